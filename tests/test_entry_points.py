"""Console scripts (setup.cfg) and the tools/*.py shims call one main().

No file puts the repository on ``sys.path`` by hand: the package is installed
(``pip install -e .``), so tools, benchmarks and scripts import it as it is.
"""
import configparser
import importlib
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _console_scripts():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    scripts = {}
    for line in parser["options.entry_points"]["console_scripts"].splitlines():
        if line.strip():
            name, target = (s.strip() for s in line.split("="))
            scripts[name] = target
    return scripts


def _resolve(target):
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def _shim(path):
    spec = importlib.util.spec_from_file_location(f"shim_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_console_script_resolves():
    scripts = _console_scripts()
    assert {"limitbatch-sweep", "limitbatch-grid", "limitbatch-regimes",
            "limitbatch-plot"} <= set(scripts)
    for name, target in scripts.items():
        assert callable(_resolve(target)), name


def test_every_tool_is_a_shim_over_its_console_script():
    scripts = _console_scripts()
    tools = sorted((ROOT / "tools").glob("*.py"))
    assert tools
    for path in tools:
        name = {"grid_search": "limitbatch-grid"}.get(
            path.stem, "limitbatch-" + path.stem.replace("_", "-"))
        assert name in scripts, f"{path.name}: no console script {name}"
        assert _shim(path).main is _resolve(scripts[name]), path.name


def test_a_shim_runs_as_a_script_from_the_repository_root():
    result = subprocess.run(
        [sys.executable, "tools/regimes.py", "--help"], cwd=ROOT,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and "--baseline_store" in result.stdout


def test_no_file_edits_sys_path():
    edits = re.compile(r"sys\.path(\.insert|\.append|\[)")
    found = []
    for top in ("limitbatch_tf", "tools", "benchmarks", "experiments", "tests"):
        for dirpath, _, files in os.walk(ROOT / top):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    if edits.search(open(path).read()):
                        found.append(os.path.relpath(path, ROOT))
    assert found == [], f"files that edit sys.path: {found}"


def test_update_readme_flags(tmp_path, capsys):
    from limitbatch_tf.cli import update_readme_flags as tool
    from limitbatch_tf.flags import flag_reference_markdown

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{tool.BEGIN}\nold\n{tool.END}\nend\n")
    assert tool.main([str(readme)]) == 0
    assert readme.read_text() == (f"intro\n{tool.BEGIN}\n"
                                  f"{flag_reference_markdown()}\n{tool.END}\nend\n")
    readme.write_text("no markers\n")
    assert tool.main([str(readme)]) == 2
    assert "no <!-- flags:begin -->" in capsys.readouterr().err
