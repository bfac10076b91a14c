"""The rules of MLPerf's compliance checker that a resumed run could break.

``mllog_rules`` restates them from mlperf_logging's
compliance_checker/training_4.0.0/common.yaml: exactly one init_start,
init_stop, run_start and run_stop, in that order; blocks strictly
alternating start/stop with non-decreasing first epochs; evaluation epochs
increasing. ``official_check`` runs the checker itself with the benchmark
renamed to one it knows (it rejects names outside MLPerf's list, e.g.
LeNet's).
"""
import json
import subprocess
import sys

from mlperf_logging.mllog import constants as C


def events(text):
    out = []
    for line in text.splitlines():
        if ":::MLLOG " in line:
            event = json.loads(line.split(":::MLLOG ", 1)[1])
            out.append((event["key"], event.get("metadata") or {}))
    return out


def mllog_rules(text):
    """Problems a compliance checker would find in ``text``; [] when none."""
    log = events(text)
    keys = [k for k, _ in log]
    problems = [f"{k} x{keys.count(k)}" for k in
                (C.INIT_START, C.INIT_STOP, C.RUN_START, C.RUN_STOP)
                if keys.count(k) != 1]
    if not problems and not (keys.index(C.INIT_START) < keys.index(C.INIT_STOP)
                             < keys.index(C.RUN_START) < keys.index(C.RUN_STOP)
                             == len(keys) - 1):
        problems.append("init/run events out of order")
    open_block, last_first, last_eval = None, -1, -1.0
    for key, meta in log:
        if key == C.BLOCK_START:
            if open_block is not None:
                problems.append("block_start inside a block")
            if meta["first_epoch_num"] < last_first:
                problems.append(f"block epochs go back to {meta['first_epoch_num']}")
            open_block = last_first = meta["first_epoch_num"]
        elif key == C.BLOCK_STOP:
            if open_block != meta["first_epoch_num"]:
                problems.append("block_stop without its block_start")
            open_block = None
        elif key == C.EVAL_ACCURACY:
            if meta["epoch_num"] <= last_eval:
                problems.append(f"eval epoch {meta['epoch_num']} after {last_eval}")
            last_eval = meta["epoch_num"]
    if open_block is not None:
        problems.append("block left open")
    return problems


def official_check(text, tmp_path):
    """(ok, output) of mlperf_logging's checker, benchmark named resnet."""
    lines = []
    for line in text.splitlines():
        if f'"key": "{C.SUBMISSION_BENCHMARK}"' in line:
            head, event = line.split(":::MLLOG ", 1)
            event = json.loads(event)
            event["value"] = C.RESNET
            line = head + ":::MLLOG " + json.dumps(event)
        lines.append(line)
    path = tmp_path / "checked_mllog.txt"
    path.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage",
         "training", "--ruleset", "4.0.0", str(path)],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
