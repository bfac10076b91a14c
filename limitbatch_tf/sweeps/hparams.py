"""TensorBoard HParams for grids and sweeps, written without TensorFlow.

Each finished trial gets the summaries ``hp.hparams(...)`` would write
(session start info: its axis values; plus session end info: success, or
failure for a diverged/unstable run) in an events file at the root of its
model_dir. The plugin treats that folder as the session and finds metrics
in its sub-runs (``eval/`` tag ``accuracy``...), which is why the file
is not put in a sub-folder. The output folder gets ``hp.hparams_config``:
the axes with their values and the metrics.

Why not ``hp.hparams`` itself: it writes through tf.summary, so the
orchestrator would import TensorFlow (seconds and ~0.5 GB per invocation,
beside trials that need the CPU). The protos come from the same
``tensorboard.plugins.hparams.summary_v2`` functions it calls
(``hparams_pb``, ``hparams_config_pb``) and are framed with TensorBoard's
own RecordWriter, so the files are the ones tf.summary would produce (local
paths only).
"""
from __future__ import annotations

import glob
import io
import os
import socket
import time

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.summary.writer.record_writer import RecordWriter

from limitbatch_tf import rundir

SESSION_SUFFIX = ".hparams"
CONFIG_FILE = "events.out.tfevents.0.hparams_config"
# results.json metric -> (TensorBoard run under the model_dir, scalar tag),
# as limitbatch_tf.train.telemetry writes them.
_PREFIXES = (("train_", "train"), ("eval_", "eval"),
             ("validation_", "validation"))
# Batch sizes are numbers in HParams (sorted and plotted as such); the full
# batch is its size, with this boolean hparam beside it.
FULL_BATCH = "full_batch"


def tensorboard_metric(name: str):
    """(group, tag) of a results.json metric name, e.g. eval_accuracy ->
    ('eval', 'accuracy'); None when TensorBoard has no such scalar."""
    for prefix, group in _PREFIXES:
        if name.startswith(prefix):
            return group, name[len(prefix):]
    return None


def write_events(path: str, summaries) -> None:
    """Writes an events file holding ``summaries`` at step 0 (atomically)."""
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    now = time.time()
    writer.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2")
                 .SerializeToString())
    for summary in summaries:
        writer.write(event_pb2.Event(wall_time=now, step=0, summary=summary)
                     .SerializeToString())
    rundir.write_atomic(path, buffer.getvalue())


def _hp_value(value):
    """HParams take bool, float and str; ints become floats."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    return float(value)


def has_session(model_dir: str) -> bool:
    return bool(glob.glob(os.path.join(model_dir, "*" + SESSION_SUFFIX)))


def _session_values(values, global_batch) -> dict:
    """HParams of a trial: batch_size as a number (``global_batch`` for
    'full'), plus full_batch when batch_size is an axis."""
    out = {k: _hp_value(v) for k, v in values if k != "batch_size"}
    for k, v in values:
        if k == "batch_size":
            full = v == "full"
            if not full:
                out[k] = float(v)
            elif global_batch is not None:
                out[k] = float(global_batch)
            out[FULL_BATCH] = full
    return out


def write_session(model_dir: str, trial_id: str, values, status: str,
                  start_time_s: float, global_batch=None) -> str:
    """The hparams of one finished trial, at the root of its model_dir.

    Args:
      model_dir: The trial's folder.
      trial_id: Session group name shown in TensorBoard.
      values: ((name, value), ...) of the trial's axes.
      status: The trial's status; "completed" and "target_reached" are
        success, others failure.
      start_time_s: When the trial started (seconds since the epoch).
      global_batch: The trial's batch size in examples (results.json's
        global_batch_size), which a batch_size of 'full' stands for.
    Returns:
      The path written.
    """
    start = hp.hparams_pb(_session_values(values, global_batch),
                          trial_id=trial_id, start_time_secs=start_time_s)
    end_info = plugin_data_pb2.SessionEndInfo(
        status=(api_pb2.STATUS_SUCCESS
                if status in (rundir.COMPLETED, rundir.TARGET_REACHED)
                else api_pb2.STATUS_FAILURE), end_time_secs=time.time())
    end = summary_pb2.Summary()
    end.value.add(tag=metadata.SESSION_END_INFO_TAG,
                  metadata=metadata.create_summary_metadata(
                      plugin_data_pb2.HParamsPluginData(
                          session_end_info=end_info)),
                  tensor=metadata.NULL_TENSOR)
    path = os.path.join(model_dir, f"events.out.tfevents.{int(start_time_s)}."
                        f"{socket.gethostname()}{SESSION_SUFFIX}")
    write_events(path, [start, end])
    return path


def write_config(out_dir: str, axes, metrics) -> str:
    """The experiment: axes as discrete hparams, metrics as TensorBoard tags.

    Args:
      out_dir: Folder given to ``tensorboard --logdir``.
      axes: Axis objects (name, values).
      metrics: results.json metric names; those TensorBoard does not log
        are left out.
    """
    hparams = []
    for a in axes:
        if a.name == "batch_size":  # numeric; 'full' is known per trial only
            hparams += [hp.HParam(a.name),
                        hp.HParam(FULL_BATCH, hp.Discrete([False, True]))]
        else:
            hparams.append(hp.HParam(
                a.name, hp.Discrete([_hp_value(v) for v in a.values])))
    shown = []
    for name in dict.fromkeys(metrics):
        where = tensorboard_metric(name)
        if where:
            shown.append(hp.Metric(where[1], group=where[0], display_name=name))
    path = os.path.join(out_dir, CONFIG_FILE)
    write_events(path, [hp.hparams_config_pb(hparams, shown)])
    return path
