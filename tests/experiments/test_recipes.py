"""docs/recipes.md pins every ImageNet config to its sources.

Each table in docs/recipes.md under a heading naming a config folder has a
``flag`` column, one column per config of that folder and a source column.
A config must set exactly the flags its column fills, to those values, so a
config cannot drift from the documented recipe (or the table from it).
"""
import math
import pathlib
import re

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "recipes.md"
ABSENT = "—"


def parse_tables(text):
    """{config path: {flag: cell}} from the doc's config tables."""
    tables, folder, lines = {}, None, text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"^#+ `(experiments/[^`]+/)`", line)
        if heading:
            folder = heading.group(1)
        elif line.startswith("| flag |") and folder:
            names = [c.strip() for c in line.strip("|").split("|")][1:-1]
            columns = {f"{folder}{name}.yaml": {} for name in names}
            i += 2  # the separator row
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                flag = cells[0].strip("`")
                for name, cell in zip(columns, cells[1:1 + len(names)]):
                    columns[name][flag] = cell
                i += 1
            tables.update(columns)
            folder = None
            continue
        i += 1
    return tables


def same(value, cell):
    parsed = yaml.safe_load(cell)
    if isinstance(value, bool) or isinstance(parsed, bool):
        return value == parsed
    try:
        return math.isclose(float(value), float(parsed), rel_tol=1e-12)
    except (TypeError, ValueError):
        return str(value) == str(parsed)


def mismatches(config: dict, column: dict):
    errors = [f"{k}: config {config[k]!r} but the doc has no row"
              for k in config if k not in column]
    for flag, cell in column.items():
        if cell == ABSENT:
            if flag in config:
                errors.append(f"{flag}: config sets {config[flag]!r}, doc says unset")
        elif flag not in config:
            errors.append(f"{flag}: doc says {cell}, config does not set it")
        elif not same(config[flag], cell):
            errors.append(f"{flag}: config {config[flag]!r}, doc {cell}")
    return errors


TABLES = parse_tables(DOC.read_text())
CONFIGS = sorted(str(p.relative_to(REPO)) for p in
                 list((REPO / "experiments" / "imagenet").glob("*.yaml"))
                 + list((REPO / "experiments" / "ladder" / "imagenet").glob("*.yaml")))


def test_every_imagenet_config_has_a_table():
    assert len(CONFIGS) == 9
    assert sorted(TABLES) == CONFIGS


@pytest.mark.parametrize("path", CONFIGS)
def test_config_matches_its_table(path):
    config = yaml.safe_load((REPO / path).read_text())
    assert mismatches(config, TABLES[path]) == []


def test_the_comparison_can_fail():
    column = TABLES["experiments/imagenet/mlperf_32k.yaml"]
    config = yaml.safe_load((REPO / "experiments/imagenet/mlperf_32k.yaml").read_text())
    assert mismatches(dict(config, learning_rate=500.5), column) == [
        "learning_rate: config 500.5, doc 31.2"]
    assert mismatches(dict(config, clip_global_norm=1.0), column) == [
        "clip_global_norm: config 1.0 but the doc has no row"]
    trimmed = {k: v for k, v in config.items() if k != "eval_every_epochs"}
    assert mismatches(trimmed, column) == [
        "eval_every_epochs: doc says 4, config does not set it"]


def test_lars_configs_use_a_lars_learning_rate():
    """No LARS config scales 0.1/256 linearly: peaks stay in the published
    LARS range (MLPerf 23-33, Table 4 26-32)."""
    for path in CONFIGS:
        config = yaml.safe_load((REPO / path).read_text())
        if config["optimizer"] == "lars":
            assert config["lr_scaling"] == "none", path
            assert 20 <= config["learning_rate"] <= 35, path


def test_imagenet_configs_evaluate_every_four_epochs():
    for path in CONFIGS:
        assert yaml.safe_load((REPO / path).read_text())["eval_every_epochs"] == 4
