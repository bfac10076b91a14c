"""The Bazel BUILD files declare every module, tool and test file (no Bazel needed).

The BUILD files are globs (one py_library per package folder, one py_binary
per tool, one py_test per test file via //third_party/python:pytest.bzl), so
a new file in an existing folder is picked up by itself. What can drift is
what a glob cannot see, and that is what this test checks:

- every folder with .py files under limitbatch_tf/, tools/, tests/ and
  benchmarks/ has a BUILD file;
- every such .py file is in the srcs of a target, every tests/**/test_*.py is
  a py_test of the same name;
- every first-party import (``limitbatch_tf.*``, a test helper such as
  ``fakedata``, or ``"-m", "limitbatch_tf.main"`` in a subprocess command line)
  is satisfied through the importing target's deps, as Bazel's runfiles need;
- every dep label names a declared target, and //limitbatch_tf (the whole
  package) reaches every library under limitbatch_tf/.

BUILD and .bzl files are read by executing them as Python with stand-ins for
Bazel's functions; they keep to the Python-compatible subset of Starlark.
"""
import ast
import pathlib
import re
import shutil
import types

import pytest

# Under `bazel test` __file__ is a symlink in the runfiles tree: resolve it to
# the source tree, whose BUILD files are what this test is about.
ROOT = pathlib.Path(__file__).resolve().parents[1]
TOPS = ("limitbatch_tf", "tools", "tests", "benchmarks")
PY_RULES = ("py_library", "py_binary", "py_test")
RULES = PY_RULES + ("genrule", "filegroup", "alias", "sh_binary", "sh_test")
UMBRELLA = "//limitbatch_tf:limitbatch_tf"
_MODULE_STRING = re.compile(r"limitbatch_tf(\.\w+)*")


class BuildError(Exception):
    """A BUILD or .bzl file called fail() or could not be read."""


def _label(pkg, label):
    """Canonical ``//pkg:name`` for a label written in package ``pkg``."""
    if label.startswith(":"):
        return f"//{pkg}:{label[1:]}"
    if label.startswith("//") and ":" not in label:
        return f"{label}:{label.rsplit('/', 1)[-1]}"
    return label


class _Package:
    """Runs one BUILD file with stand-ins for the Bazel functions it calls."""

    def __init__(self, root, pkg, targets):
        self.root, self.pkg, self.targets = root, pkg, targets

    def glob(self, include, exclude=(), **_):
        base = self.root / self.pkg
        names = {p.relative_to(base).as_posix()
                 for pattern in include for p in base.glob(pattern) if p.is_file()}
        names -= {p.relative_to(base).as_posix()
                  for pattern in exclude for p in base.glob(pattern)}
        return sorted(names)

    def rule(self, kind):
        def declare(name, **attrs):
            self.targets[f"//{self.pkg}:{name}"] = dict(attrs, kind=kind, pkg=self.pkg)
        return declare

    def functions(self):
        def fail(message):
            raise BuildError(f"{self.pkg}/BUILD: {message}")
        found = {kind: self.rule(kind) for kind in RULES}
        found.update(glob=self.glob, fail=fail, package=lambda **_: None,
                     exports_files=lambda *_, **__: None,
                     package_name=lambda: self.pkg)
        return found

    def load(self, label, *symbols):
        pkg, name = label[2:].split(":")
        namespace = {"native": types.SimpleNamespace(**self.functions()),
                     "fail": self.functions()["fail"]}
        path = self.root / pkg / name
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        return {symbol: namespace[symbol] for symbol in symbols}

    def run(self):
        namespace = self.functions()
        namespace["load"] = lambda label, *symbols: namespace.update(
            self.load(label, *symbols))
        path = self.root / self.pkg / "BUILD"
        exec(compile(path.read_text(), str(path), "exec"), namespace)


def load_targets(root):
    """Every target of every BUILD file under ``root`` (minus .bazelignore)."""
    ignore_file = root / ".bazelignore"
    ignored = ignore_file.read_text().split() if ignore_file.exists() else []
    targets = {}
    for build in sorted(root.rglob("BUILD")):
        pkg = build.parent.relative_to(root).as_posix()
        pkg = "" if pkg == "." else pkg
        if pkg.startswith(".") or any(pkg == d or pkg.startswith(d + "/")
                                      for d in ignored):
            continue
        _Package(root, pkg, targets).run()
    return targets


def _srcs(target):
    """Source files (repository-relative) a target lists in srcs."""
    pkg = target["pkg"]
    return [f"{pkg}/{s}" if pkg else s
            for s in target.get("srcs", []) if not s.startswith(("//", ":", "@"))]


def _closure(targets, label):
    seen, todo = set(), [label]
    while todo:
        current = todo.pop()
        if current in seen or current not in targets:
            continue
        seen.add(current)
        pkg = targets[current]["pkg"]
        todo += [_label(pkg, d) for d in targets[current].get("deps", [])]
    return seen


def _imported_names(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and _MODULE_STRING.fullmatch(node.value)):
            yield node.value  # e.g. [sys.executable, "-m", "limitbatch_tf.main"]


def _module_files(root, importer, name):
    """First-party files that importing ``name`` from ``importer`` executes."""
    parts = name.split(".")
    if parts[0] == "limitbatch_tf":
        files = []
        for i in range(1, len(parts) + 1):
            base = root.joinpath(*parts[:i])
            if (base / "__init__.py").is_file():
                files.append(base / "__init__.py")
            else:
                if base.with_suffix(".py").is_file():
                    files.append(base.with_suffix(".py"))
                break
        return files
    # A sibling module (test helpers, benchmarks/common.py), or one next to
    # tests/conftest.py, which pytest puts on sys.path.
    folders = [importer.parent]
    if importer.is_relative_to(root / "tests"):
        folders.append(root / "tests")
    for folder in folders:
        if len(parts) == 1 and (folder / f"{name}.py").is_file():
            return [folder / f"{name}.py"]
    return []


def problems(root):
    """Every way the BUILD files under ``root`` disagree with its Python files."""
    try:
        targets = load_targets(root)
    except BuildError as error:
        return [str(error)]
    found = []
    owners = {}
    for label, target in targets.items():
        if target["kind"] in PY_RULES:
            for src in _srcs(target):
                owners.setdefault(src, set()).add(label)

    for top in TOPS:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if "__pycache__" in rel:
                continue
            if not (path.parent / "BUILD").is_file():
                found.append(f"{rel}: folder {path.parent.relative_to(root)} "
                             "has no BUILD file")
            elif path.name.startswith("test_") and top == "tests":
                test = f"//{path.parent.relative_to(root).as_posix()}:{path.stem}"
                if targets.get(test, {}).get("kind") != "py_test":
                    found.append(f"{rel}: no py_test {test}")
            elif rel not in owners:
                found.append(f"{rel}: in no py_library/py_binary srcs")

    for label, target in sorted(targets.items()):
        for dep in target.get("deps", []):
            dep = _label(target["pkg"], dep)
            if not dep.startswith("@") and dep not in targets:
                found.append(f"{label}: unknown dep {dep}")
        if target["kind"] not in PY_RULES:
            continue
        reach = _closure(targets, label)
        for src in _srcs(target):
            path = root / src
            if not path.is_file():
                continue  # generated (the pytest runner copies)
            for name in sorted(set(_imported_names(path))):
                for needed in _module_files(root, path, name):
                    need = owners.get(needed.relative_to(root).as_posix(), set())
                    if need and not need & reach:
                        found.append(f"{label}: {src} imports {name}, but no dep "
                                     f"reaches {' or '.join(sorted(need))}")
    if UMBRELLA in targets:
        reach = _closure(targets, UMBRELLA)
        for label, target in sorted(targets.items()):
            if (target["kind"] == "py_library" and label not in reach
                    and label.startswith(("//limitbatch_tf:", "//limitbatch_tf/"))):
                found.append(f"{UMBRELLA}: does not depend on {label}")
    return sorted(set(found))


def test_build_files_match_the_source_tree():
    assert problems(ROOT) == []


# --- The checker itself, on a small copy of the layout -----------------------

LIB = """py_library(name = "{name}", srcs = glob(["*.py"]), deps = [{deps}])
"""
UMBRELLA_BUILD = """py_library(name = "core", srcs = glob(["*.py"]))
py_library(name = "limitbatch_tf", deps = [":core", "//limitbatch_tf/a", "//limitbatch_tf/b"])
"""


@pytest.fixture
def repo(tmp_path):
    """A repository in sync: limitbatch_tf/{a,b}, a test folder, a tool."""
    shutil.copytree(ROOT / "third_party" / "python", tmp_path / "third_party" / "python")
    files = {
        "BUILD": 'filegroup(name = "pytest_config", srcs = [])\n',
        "limitbatch_tf/__init__.py": "",
        "limitbatch_tf/BUILD": UMBRELLA_BUILD,
        "limitbatch_tf/a/__init__.py": "",
        "limitbatch_tf/a/x.py": "from limitbatch_tf.b import y\n",
        "limitbatch_tf/a/BUILD": LIB.format(name="a", deps='"//limitbatch_tf:core", "//limitbatch_tf/b"'),
        "limitbatch_tf/b/__init__.py": "",
        "limitbatch_tf/b/y.py": "import numpy\n",
        "limitbatch_tf/b/BUILD": LIB.format(name="b", deps='"//limitbatch_tf:core"'),
        "tools/tool.py": "import limitbatch_tf.a.x\n",
        "tools/BUILD": '[py_binary(name = s[:-3], srcs = [s], deps = ["//limitbatch_tf"]) '
                       'for s in glob(["*.py"])]\n',
        "tests/conftest.py": "import limitbatch_tf\n",
        "tests/fake.py": "",
        "tests/BUILD": 'load("//third_party/python:pytest.bzl", "pytest_tests")\n'
                       'pytest_tests(deps = ["//limitbatch_tf:core"])\n',
        "tests/a/test_x.py": "import subprocess\nfrom fake import thing\n"
                             "from limitbatch_tf.a import x\n",
        "tests/a/BUILD": 'load("//third_party/python:pytest.bzl", "pytest_tests")\n'
                         'pytest_tests(deps = ["//tests:helpers", "//limitbatch_tf/a"])\n',
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert problems(tmp_path) == []
    return tmp_path


def test_reports_a_folder_without_build_file(repo):
    (repo / "limitbatch_tf" / "c").mkdir()
    (repo / "limitbatch_tf" / "c" / "z.py").write_text("")
    assert problems(repo) == ["limitbatch_tf/c/z.py: folder limitbatch_tf/c has no BUILD file"]


def test_reports_an_import_no_dep_reaches(repo):
    (repo / "limitbatch_tf" / "b" / "y.py").write_text("from limitbatch_tf.a import x\n")
    assert problems(repo) == [
        "//limitbatch_tf/b:b: limitbatch_tf/b/y.py imports limitbatch_tf.a, "
        "but no dep reaches //limitbatch_tf/a:a",
        "//limitbatch_tf/b:b: limitbatch_tf/b/y.py imports limitbatch_tf.a.x, "
        "but no dep reaches //limitbatch_tf/a:a"]


def test_reports_a_subprocess_module_and_a_helper_no_dep_reaches(repo):
    (repo / "tests" / "a" / "BUILD").write_text(
        'load("//third_party/python:pytest.bzl", "pytest_tests")\n'
        'pytest_tests(deps = ["//limitbatch_tf/b"])\n')
    (repo / "tests" / "a" / "test_x.py").write_text(
        'from fake import thing\nCMD = ["python", "-m", "limitbatch_tf.a.x"]\n')
    assert problems(repo) == [
        "//tests/a:test_x: tests/a/test_x.py imports fake, but no dep reaches //tests:helpers",
        "//tests/a:test_x: tests/a/test_x.py imports limitbatch_tf.a.x, "
        "but no dep reaches //limitbatch_tf/a:a",
    ]


def test_reports_an_undeclared_test_file_and_module(repo):
    (repo / "tests" / "BUILD").write_text(
        'load("//third_party/python:pytest.bzl", "pytest_tests")\n'
        'pytest_tests(deps = ["//limitbatch_tf:core"], exclude = ["test_new.py"])\n')
    (repo / "tests" / "test_new.py").write_text("")
    (repo / "limitbatch_tf" / "BUILD").write_text(
        UMBRELLA_BUILD.replace('glob(["*.py"])', '["__init__.py"]'))
    (repo / "limitbatch_tf" / "flags.py").write_text("")
    assert problems(repo) == ["limitbatch_tf/flags.py: in no py_library/py_binary srcs",
                              "tests/test_new.py: no py_test //tests:test_new"]


def test_reports_unknown_deps_and_libraries_outside_the_umbrella(repo):
    (repo / "limitbatch_tf" / "BUILD").write_text(
        UMBRELLA_BUILD.replace('"//limitbatch_tf/a"', '"//limitbatch_tf/aa"'))
    assert problems(repo) == [
        "//limitbatch_tf:limitbatch_tf: does not depend on //limitbatch_tf/a:a",
        "//limitbatch_tf:limitbatch_tf: unknown dep //limitbatch_tf/aa:aa",
        "//tools:tool: tools/tool.py imports limitbatch_tf.a.x, "
        "but no dep reaches //limitbatch_tf/a:a"]


def test_reports_fail_from_the_macro(repo):
    (repo / "tests" / "BUILD").write_text(
        'load("//third_party/python:pytest.bzl", "pytest_tests")\n'
        'pytest_tests(sizes = {"test_gone.py": "large"})\n')
    assert problems(repo) == [
        "tests/BUILD: pytest_tests: test_gone.py is not a test file of this package"]
