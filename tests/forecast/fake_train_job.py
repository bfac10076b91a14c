#!/usr/bin/env python3
"""A stand-in for ``python -m limitbatch_tf.main`` in find_limit's tests.

Invoked as ``fake_train_job.py -m limitbatch_tf.main --flag=value ...``; it
writes the results.json the main job would, with the accuracy of
tests/forecast/test_search.py's simulated trainer (B_L in (512, 1024], B_H
in [8192, 16384)), and appends a line to STORE/launches.log per start.
"""
import json
import math
import os
import random
import sys

flags = dict(a[2:].split("=", 1) for a in sys.argv[3:] if a.startswith("--"))
model_dir = flags["model_dir"]
b, lr = int(flags["batch_size"]), float(flags["learning_rate"])
epochs, seed = float(flags["epochs"]), int(flags["seed"])
rho = float(os.environ.get("FAKE_RHO", "8"))
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(os.path.dirname(model_dir), "launches.log"), "a") as f:
    f.write(os.path.basename(model_dir) + "\n")
off = abs(math.log2(lr / (0.1 * math.sqrt(b / 256))))
best = {16384: 0.88, 32768: 0.85}.get(b, 0.90)
rng = random.Random(f"{b},{lr},{seed},{epochs}")
acc = best - 0.03 * max(0.0, off - 0.6) - 0.02 * (1 - epochs / rho) + rng.gauss(0, 0.002)
status = "diverged" if off > 2.5 else "completed"
metrics = ({"eval_accuracy": acc, "validation_accuracy": acc + rng.gauss(0, 0.002),
            "eval_loss": 0.3 + 5 * (0.9 - acc), "validation_loss": 0.3 + 5 * (0.9 - acc)}
           if status == "completed" else {"train_loss": float("nan")})
config = {"batch_size": str(b), "learning_rate": lr, "epochs": epochs,
          "seed": seed, "optimizer": "momentum", "lr_scaling": "none",
          "model_dir": model_dir}
with open(os.path.join(model_dir, "results.json"), "w") as f:
    json.dump({"status": status, "config": config, "global_batch_size": b,
               "num_train_examples": 55000, "peak_learning_rate": lr,
               "epochs_completed": epochs if status == "completed" else epochs / 4,
               "diverged_step": 3 if status == "diverged" else None,
               "metrics": metrics, "history": [], "wall_time_s": 1.0}, f)
