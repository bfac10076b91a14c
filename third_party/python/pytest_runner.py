"""Runs one pytest file as a Bazel py_test (see pytest.bzl).

Usage (by Bazel): <test>_pytest_main.py tests/dir/test_x.py [pytest args...]

The test runs from the runfiles tree, where setup.cfg ([tool:pytest]) makes
the workspace root pytest's rootdir, so tests/conftest.py and the test's
folder are set up exactly as for `python -m pytest tests/dir/test_x.py`.
"""
import os
import sys

import pytest


def pytest_args(argv, environ):
    """The pytest command line for a Bazel test run.

    Args:
        argv: ``[test_file, *extra_pytest_args]``.
        environ: the environment Bazel gives the test (``XML_OUTPUT_FILE``
            becomes ``--junitxml``; ``TESTBRIDGE_TEST_ONLY`` from
            ``--test_filter`` becomes ``-k``).

    Returns:
        The argument list for ``pytest.main``.
    """
    if not argv:
        raise ValueError("pytest_runner: expected the test file as first argument")
    # The runfiles tree is read-only: no .pytest_cache, no .pyc next to sources.
    # -m "": every test of the file, the slow ones too (setup.cfg's addopts
    # leave them out of the default pytest run).
    args = [argv[0], "-p", "no:cacheprovider", "-q", "-m", "", *argv[1:]]
    if environ.get("XML_OUTPUT_FILE"):
        args.append("--junitxml=" + environ["XML_OUTPUT_FILE"])
    if environ.get("TESTBRIDGE_TEST_ONLY"):
        args += ["-k", environ["TESTBRIDGE_TEST_ONLY"]]
    return args


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    sys.exit(pytest.main(pytest_args(sys.argv[1:], os.environ)))
