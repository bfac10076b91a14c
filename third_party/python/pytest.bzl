"""pytest_tests: one Bazel py_test per tests file, run by pytest.

A BUILD file in a tests folder calls `pytest_tests(deps = [...])`. Every
`test_*.py` in the folder (a glob, so new test files need no BUILD edit)
becomes a py_test named after the file, and every other `*.py` in the folder
(conftest.py, shared fakes and references) becomes the `:helpers` py_library
that each of those tests depends on. The test's main is a copy of
//third_party/python:pytest_runner.py that calls pytest.main([file]).

Note: tests/test_build_sync.py executes this file as Python to read the BUILD
files, so keep to the Python-compatible subset of Starlark (no `struct`,
`select` or `Label`).
"""

_RUNNER = "//third_party/python:pytest_runner.py"

def pytest_tests(
        deps = [],
        data = [],
        size = "medium",
        sizes = {},
        tags = {},
        exclude = []):
    """Declares `:helpers` and one py_test per test_*.py of this package.

    Args:
        deps: py_library labels every test and the helpers import. Defaults to [].
        data: files every test reads at run time. Defaults to [].
        size: Bazel test size of each test. Defaults to "medium" (300 s).
        sizes: per-file size overrides, {"test_x.py": "large"}. Defaults to {}.
        tags: per-file extra tags, {"test_x.py": ["external"]}. Defaults to {}.
        exclude: test files of this folder not to declare. Defaults to [].
    """
    tests = native.glob(["test_*.py"], exclude = exclude)
    for src in list(sizes) + list(tags):
        if src not in tests:
            fail("pytest_tests: %s is not a test file of this package" % src)
    helpers = native.glob(["*.py"], exclude = ["test_*.py"])
    lib_deps = []
    if helpers:
        native.py_library(
            name = "helpers",
            srcs = helpers,
            deps = deps,
            data = data,
            visibility = ["//tests:__subpackages__"],
        )
        lib_deps = [":helpers"]
    for src in tests:
        name = src[:-len(".py")]
        main = name + "_pytest_main.py"
        native.genrule(
            name = name + "_pytest_main",
            srcs = [_RUNNER],
            outs = [main],
            cmd = "cp $< $@",
        )
        native.py_test(
            name = name,
            srcs = [src, main],
            main = main,
            args = ["$(rootpath %s)" % src],
            deps = lib_deps + deps,
            data = data + ["//:pytest_config"],
            size = sizes.get(src, size),
            tags = tags.get(src, []),
            python_version = "PY3",
            srcs_version = "PY3",
        )
