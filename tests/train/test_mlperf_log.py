"""One MLPerf log per run, across preemption (issue 16.5); the end-to-end
kill/preempt/resume check is in test_survival.py."""
import json

from mlperf_logging.mllog import constants as C

from limitbatch_tf.train.mlperf_log import continuation
from mllog_rules import mllog_rules


def _line(key, **metadata):
    return ":::MLLOG " + json.dumps({"key": key, "value": None,
                                     "metadata": metadata})


ATTEMPT = [_line(C.INIT_START), _line(C.INIT_STOP), _line(C.RUN_START),
           _line(C.BLOCK_START, first_epoch_num=0, epoch_count=2),
           _line(C.BLOCK_STOP, first_epoch_num=0),
           _line(C.EVAL_START, epoch_num=2.0),
           _line(C.EVAL_ACCURACY, epoch_num=2.0),
           _line(C.EVAL_STOP, epoch_num=2.0),
           _line(C.BLOCK_START, first_epoch_num=2, epoch_count=2),
           _line(C.BLOCK_STOP, first_epoch_num=2),
           _line(C.EVAL_START, epoch_num=4.0),
           _line(C.EVAL_ACCURACY, epoch_num=4.0),
           _line(C.EVAL_STOP, epoch_num=4.0),
           _line(C.BLOCK_START, first_epoch_num=4, epoch_count=2)]


def test_continuation_keeps_what_the_checkpoint_covers():
    text = "\n".join(ATTEMPT)
    # Killed in the third block, restored at epoch 4.5: keep both evals,
    # drop the open block (the resumed run opens it again).
    assert continuation(text, 4.5) == ATTEMPT[:13]
    # Restored at epoch 3 (the log ran ahead of the checkpoint): the eval
    # at 4 and its block are the lost future.
    assert continuation(text, 3.0) == ATTEMPT[:8]
    # A preempted attempt's run_stop goes, and the block it closed.
    stopped = ATTEMPT[:10] + [_line(C.RUN_STOP, status="aborted")]
    assert continuation("\n".join(stopped), 3.0) == ATTEMPT[:8]
    # Died before run_start: nothing to go on from.
    assert continuation("\n".join(ATTEMPT[:2]), 0.0) is None
    assert continuation(None, 0.0) is None


def test_rules_catch_a_second_init_block():
    twice = "\n".join(ATTEMPT[:8] + ATTEMPT[:8] + [_line(C.RUN_STOP)])
    assert "run_start x2" in mllog_rules(twice)
    once = "\n".join(ATTEMPT[:8] + [_line(C.RUN_STOP)])
    assert mllog_rules(once) == []
