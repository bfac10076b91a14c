"""A sweep trial's fixed overhead: start to first progress line, last line to exit.

Runs ``python -m limitbatch_tf.main ARGS`` as a sweep does (one process per
trial) and prints the wall seconds from start to its first progress line
(``step N/...``: imports, data, model, tracing, the first N steps), from
start to its final ``completed`` line, and from that line to the process's
exit, with the CPU seconds the process spent after the line (from
/proc/PID/stat at the line and the rusage at exit; Linux only). Wall time
well above CPU time after the last line is waiting, not work (issue 16.3:
tf.data's autotuning thread).

  python benchmarks/trial_overhead.py --epochs=1 --model_dir=/tmp/trial
"""
import os
import subprocess
import sys
import time


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(args):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    start = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "limitbatch_tf.main"] + args, cwd=repo,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = done = cpu_at_done = None
    for line in proc.stdout:
        if first is None and line.startswith("step "):
            first = time.time()
        if line.startswith("completed"):
            done, cpu_at_done = time.time(), _cpu_seconds(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.time()
    code = os.waitstatus_to_exitcode(status)
    if done is None:
        print(f"no 'completed' line (exit {code})")
        return 1
    cpu_after = usage.ru_utime + usage.ru_stime - cpu_at_done
    print(f"start -> first progress line {first - start:.1f} s; "
          f"start -> completed {done - start:.1f} s; "
          f"completed -> exit {end - done:.2f} s wall, {cpu_after:.2f} s CPU; "
          f"exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
