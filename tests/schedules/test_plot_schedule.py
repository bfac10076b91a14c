"""limitbatch-plot-schedule (tools/plot_schedule.py) writes a PNG for
configured schedules."""
import pytest

from limitbatch_tf.cli import plot_schedule


@pytest.fixture(scope="module")
def tool():
    return plot_schedule


@pytest.mark.parametrize("flags", [
    # Table 4: 128K batch, LR 28, 25 warmup epochs, regular cosine.
    ["--num_examples=1281167", "--batch_size=131072", "--peak_lr=28",
     "--warmup_epochs=25", "--decay=cosine", "--cosine_granularity=epoch",
     "--total_epochs=90"],
    # MNIST-like poly decay with linear LR scaling from B0 = 256.
    ["--num_examples=60000", "--batch_size=8192", "--base_batch_size=256",
     "--lr_scaling=linear", "--peak_lr=0.01", "--warmup_steps=20", "--decay=poly",
     "--end_lr=1e-4", "--total_epochs=30"],
    ["--num_examples=60000", "--batch_size=4096", "--peak_lr=1", "--decay=cyclical",
     "--cycle_epochs=5", "--end_lr=0.1", "--total_steps=300"],
])
def test_writes_png(tool, tmp_path, flags):
    out = tmp_path / "lr.png"
    assert tool.main(flags + [f"--output={out}"]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_flags_resolve_to_schedule(tool):
    args = tool.parse_args([
        "--output=x.png", "--num_examples=60000", "--batch_size=8192",
        "--base_batch_size=256", "--lr_scaling=sqrt", "--peak_lr=0.1",
        "--warmup_epochs=2", "--decay=step", "--step_boundaries_epochs=10,20",
        "--total_epochs=30"])
    schedule, total, spe, peak = tool.schedule_from_args(args)
    assert spe == pytest.approx(60000 / 8192)
    assert total == 220 and schedule.warmup_steps == 15  # ceil(30 * 7.32), ceil(2 * 7.32)
    assert peak == pytest.approx(0.1 * (8192 / 256) ** 0.5)
    assert schedule.decay_schedule.boundaries == [74 - 15, 147 - 15]


def test_bad_config_is_an_error(tool, tmp_path):
    with pytest.raises(ValueError, match="cycle_steps"):
        tool.main(["--num_examples=100", "--batch_size=10", "--peak_lr=1",
                   "--total_steps=50", "--decay=cyclical", f"--output={tmp_path}/a.png"])
    with pytest.raises(ValueError, match="--poly_power applies to --decay=poly only"):
        tool.main(["--num_examples=100", "--batch_size=10", "--peak_lr=1",
                   "--total_steps=50", "--decay=cosine", "--poly_power=2",
                   f"--output={tmp_path}/c.png"])
    with pytest.raises(SystemExit):  # argparse: total duration missing
        tool.main(["--num_examples=100", "--batch_size=10", "--peak_lr=1",
                   f"--output={tmp_path}/b.png"])
