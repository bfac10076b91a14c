"""limitbatch_tf.rundir: the run directory's contract, TensorFlow-free."""
import json
import os
import subprocess
import sys

import pytest

from limitbatch_tf import rundir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(params=["plain", "gfile"])
def backend(request, monkeypatch):
    """Each test on plain files and on tf.io.gfile (conftest loads TF)."""
    if request.param == "plain":
        monkeypatch.setattr(rundir, "_gfile", lambda path="": None)
    else:
        assert rundir._gfile() is not None
    return request.param


def _python(code, cwd):
    """The last line that ``code`` prints in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, text=True,
                          capture_output=True, check=True,
                          env=dict(os.environ, PYTHONPATH=REPO)
                          ).stdout.strip().splitlines()[-1]


def test_importing_it_does_not_import_tensorflow():
    code = ("import sys, limitbatch_tf.rundir, limitbatch_tf.sweeps.trials,"
            " limitbatch_tf.analysis.store; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras')))")
    assert _python(code, REPO) == "[]"


def test_json_round_trip_is_atomic_and_leaves_no_temporary(tmp_path, backend):
    path = str(tmp_path / rundir.RESULTS_FILE)
    rundir.write_json(path, {"status": rundir.RUNNING, "loss": 0.5})
    rundir.write_json(path, {"status": rundir.COMPLETED})
    assert json.load(open(path)) == {"status": "completed"}
    assert rundir.read_results(str(tmp_path)) == {"status": "completed"}
    assert os.listdir(tmp_path) == [rundir.RESULTS_FILE]


def test_a_failed_write_keeps_the_previous_file(tmp_path, backend):
    path = str(tmp_path / "config.json")
    rundir.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        rundir.write_json(path, {"a": object()})  # not serialisable
    assert rundir.read_json(path) == {"a": 1}


def test_missing_or_malformed_json_reads_as_none(tmp_path, backend):
    assert rundir.read_json(str(tmp_path / "absent.json")) is None
    (tmp_path / "bad.json").write_text("{not json")
    assert rundir.read_json(str(tmp_path / "bad.json")) is None
    assert rundir.read_results(str(tmp_path / "no_such_run")) is None


def test_bytes_and_text_writes(tmp_path, backend):
    rundir.write_atomic(str(tmp_path / "b"), b"\x00\x01")
    rundir.write_atomic(str(tmp_path / "t"), "line\n")
    assert (tmp_path / "b").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t").read_text() == "line\n"


def test_config_difference_names_the_first_differences():
    saved = {"learning_rate": 0.2, "seed": 1, "old_only": 3}
    mine = {"learning_rate": 0.1, "seed": 1, "new_only": 4}
    assert rundir.config_difference(saved, mine) == "learning_rate=0.2->0.1"
    assert rundir.config_difference(saved, dict(saved)) is None
    many = {f"k{i}": i for i in range(6)}
    text = rundir.config_difference(many, {k: -1 for k in many})
    assert text.count("->") == 4  # at most four named
    assert rundir.different_config_message("d", text, "fix it").startswith(
        "d holds a run with a different config (k0=0->-1")


def test_statuses_and_exit_codes():
    assert set(rundir.FINISHED) == {"completed", "target_reached", "diverged",
                                    "unstable"}
    assert rundir.PREEMPTED not in rundir.FINISHED
    assert set(rundir.FAILED) <= set(rundir.FINISHED)
    assert (rundir.EXIT_BAD_INPUT, rundir.EXIT_PREEMPTED) == (2, 3)


def test_a_url_goes_through_gfile_even_from_a_tool(tmp_path):
    # A TensorFlow-free process (a sweep tool) writing to a URL: rundir
    # imports TensorFlow for it; ram:// stands in for gs://.
    code = ("import sys; from limitbatch_tf import rundir; "
            "rundir.write_json('ram://rd/x.json', {'a': 1}); "
            "print(rundir.read_json('ram://rd/x.json'), "
            "sys.modules['tensorflow'].io.gfile.listdir('ram://rd/'))")
    assert _python(code, tmp_path) == "{'a': 1} ['x.json']"
    assert os.listdir(tmp_path) == []  # nothing written to local disk
