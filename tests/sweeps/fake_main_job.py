"""A stand-in for the main job in executor tests (no TensorFlow: ~50 ms).

    python fake_main_job.py MODEL_DIR BEHAVIOUR [SECONDS]

BEHAVIOUR: completed:<accuracy> | diverged | preempted | crash | bad | hang.
Each start appends 'start <time>' and each exit 'end <time>' to
MODEL_DIR/starts.log so tests can count launches and overlap.
"""
import json
import os
import sys
import time

model_dir, behaviour = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
os.makedirs(model_dir, exist_ok=True)
log = open(os.path.join(model_dir, "starts.log"), "a")
log.write(f"start {time.time()}\n")
log.flush()
time.sleep(seconds)


def results(status, **extra):
    payload = dict(status=status, diverged_step=None, steps=4,
                   metrics={"train_loss": 1.0})
    payload.update(extra)
    with open(os.path.join(model_dir, "results.json"), "w") as f:
        json.dump(payload, f)


code = 0
if behaviour.startswith("completed:"):
    acc = float(behaviour.split(":")[1])
    results("completed", metrics={"eval_accuracy": acc, "eval_loss": 1 - acc})
elif behaviour == "diverged":
    results("diverged", diverged_step=2, metrics={"train_loss": float("nan")})
elif behaviour == "preempted":
    results("preempted")
    code = 3
elif behaviour == "crash":
    results("running")
    code = 1
elif behaviour == "bad":
    print("error: --learning_rate=-1.0 must be >= 0.0", file=sys.stderr)
    code = 2
elif behaviour == "hang":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: (results("preempted"),
                                              log.write(f"end {time.time()}\n"),
                                              log.close(), os._exit(3)))
    time.sleep(60)
log.write(f"end {time.time()}\n")
log.close()
sys.exit(code)
