"""experiments/ladder: the paper's optimization ladder (section 3.1, Figure 1).

Each rung must differ from the one before only in its own technique's keys,
carry the header a reader needs (command, hardware, wall time, the paper's
number), and be a valid main-job config once the flags it names exist.
"""
import pathlib
import re
import shlex

import pytest
import yaml

from limitbatch_tf.config import Config, ConfigError, from_mapping
from limitbatch_tf.sweeps import grid, grid_search

LADDER = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "ladder"
DATASETS = ("imagenet", "cifar10", "mnist", "fashion_mnist")
RUNGS = ("0_msgd", "1_warmup", "2_tuned", "3_label_smoothing", "4_lars")
# rung -> (keys it may change, keys it must change)
TECHNIQUE = {
    "1_warmup": ({"warmup_epochs", "warmup_steps", "warmup", "warmup_start_lr"},
                 {"warmup_epochs"}),
    # Placeholders equal to rung 1 until the grid has run: may change nothing.
    "2_tuned": ({"learning_rate", "warmup_epochs"}, set()),
    "3_label_smoothing": ({"label_smoothing"}, {"label_smoothing"}),
    # LARS brings its own LR scale (docs/recipes.md): a LARS peak LR set
    # directly, not momentum SGD's linearly scaled one.
    "4_lars": ({"optimizer", "lars_eeta", "lars_epsilon", "weight_decay",
                "layerwise", "trust_ratio_bounds", "learning_rate",
                "lr_scaling"}, {"optimizer"}),
}
IMAGENET_PAPER = ("0.0977%", "2.712%", "4.563%", "4.226%", "18.95%")
BN_SPANS = {"imagenet": 128, "cifar10": 125}  # ghost BN on every rung


def _path(dataset, rung):
    return LADDER / dataset / f"{rung}.yaml"


def _load(dataset, rung):
    return yaml.safe_load(_path(dataset, rung).read_text())


def _changed(a: dict, b: dict) -> set:
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


def test_the_ladder_is_complete():
    assert sorted(p.name for p in LADDER.iterdir()) == sorted(DATASETS)
    for dataset in DATASETS:
        assert sorted(p.stem for p in (LADDER / dataset).glob("*.yaml")) == list(RUNGS)


@pytest.mark.parametrize("dataset", DATASETS)
def test_each_rung_adds_only_its_technique(dataset):
    rungs = [_load(dataset, r) for r in RUNGS]
    for prev, rung, name in zip(rungs, rungs[1:], RUNGS[1:]):
        allowed, required = TECHNIQUE[name]
        changed = _changed(prev, rung)
        assert changed <= allowed, f"{dataset}/{name} also changes {changed - allowed}"
        assert required <= changed, f"{dataset}/{name} misses {required - changed}"
    assert rungs[1]["warmup_epochs"] > 0 == rungs[0]["warmup_epochs"]
    assert (rungs[2]["label_smoothing"], rungs[3]["label_smoothing"]) == (0.0, 0.1)
    assert (rungs[3]["optimizer"], rungs[4]["optimizer"]) == ("momentum", "lars")
    # Rung 0 is the paper's baseline recipe.
    base = rungs[0]
    assert (base["lr_scaling"], base["lr_decay"]) == ("linear", "cosine")
    assert base["clip_global_norm"] > 0 and base["momentum"] == 0.9


def test_imagenet_rungs_share_weight_decay():
    """The B0 = 256 baseline's 1e-4 on every rung: rung 4 changes the
    optimizer, not the regulariser too."""
    decays = {rung: _load("imagenet", rung).get("weight_decay") for rung in RUNGS}
    assert set(decays.values()) == {0.0001}, decays


def test_the_diff_check_can_fail():
    a = _load("mnist", "2_tuned")
    b = dict(a, label_smoothing=0.1, momentum=0.95)
    assert _changed(a, b) == {"label_smoothing", "momentum"}
    assert not _changed(a, b) <= TECHNIQUE["3_label_smoothing"][0]


@pytest.mark.parametrize("dataset, batch, b0, epochs", [
    ("imagenet", 819200, 256, 90), ("cifar10", 25000, 128, 200),
    ("mnist", 32768, 256, 30), ("fashion_mnist", 32768, 256, 30)])
def test_paper_batch_sizes_and_epochs(dataset, batch, b0, epochs):
    for rung in RUNGS:
        values = _load(dataset, rung)
        assert (values["dataset"], int(values["batch_size"]),
                values["base_batch_size"], values["epochs"]) == (
                    dataset, batch, b0, epochs)


@pytest.mark.parametrize("dataset", DATASETS)
def test_headers_say_command_hardware_time_and_paper(dataset):
    for i, rung in enumerate(RUNGS):
        text = _path(dataset, rung).read_text()
        header = text.split("\n" + "dataset:")[0].splitlines()
        assert all(line.startswith("#") for line in header)
        fields = {m.group(1): m.group(2) for line in header
                  for m in [re.match(r"# (Command|Hardware|Wall time|Paper):\s+(.*)",
                                     line)] if m}
        assert set(fields) == {"Command", "Hardware", "Wall time", "Paper"}
        assert (f"python -m limitbatch_tf.main --config=experiments/ladder/"
                f"{dataset}/{rung}.yaml") in fields["Command"]
        if dataset == "imagenet":
            assert fields["Paper"].startswith(IMAGENET_PAPER[i])
        assert yaml.safe_load(text).get("bn_span") == BN_SPANS.get(dataset)


@pytest.mark.parametrize("dataset", DATASETS)
def test_tuned_rung_names_a_valid_grid_over_rung_1(dataset):
    text = _path(dataset, "2_tuned").read_text()
    command = re.search(r"tune with: (python tools/grid_search.py .*)", text).group(1)
    argv = shlex.split(command)[2:]
    args = grid_search.parse_args(argv)
    assert args.config == f"experiments/ladder/{dataset}/1_warmup.yaml"
    axes = [grid.parse_axis(spec) for spec in args.grid]
    assert [a.name for a in axes] == ["learning_rate", "warmup_epochs"]
    rung1 = _load(dataset, "1_warmup")
    # The placeholders are rung 1's values, which the grid contains.
    assert rung1["learning_rate"] in axes[0].values
    assert rung1["warmup_epochs"] in axes[1].values
    for key in ("learning_rate", "warmup_epochs"):
        assert re.search(rf"^{key}: .*# PLACEHOLDER.*tune with", text, re.M)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("rung", RUNGS)
def test_rungs_are_valid_configs(dataset, rung):
    values = _load(dataset, rung)
    fields = {name for name, _, _, _ in Config.field_specs()}
    assert not set(values) - fields, f"unknown keys {set(values) - fields}"
    try:
        from_mapping(values, str(_path(dataset, rung))).validate()
    except ConfigError as e:
        pytest.fail(str(e))
