#!/usr/bin/env bash
# Builds and tests the Bazel targets offline: installs Debian's Bazel 4.2.3
# (bazel-bootstrap) if it is missing, then runs `bazel test` on the given
# target patterns (default //tests/...). Extra arguments starting with `-` are
# passed to `bazel test` as flags, e.g. --test_output=all.
#
# Usage: tools/check_build.sh [PATTERN_OR_FLAG...]
#   tools/check_build.sh                       # every test (several minutes)
#   tools/check_build.sh //tests/data:test_idx //tests:test_config
#   tools/check_build.sh //...                 # also builds main, tools, benchmarks
#
# Needs: root (or passwordless sudo) for the one-time apt-get install; a
# python3 on PATH with the project's pip dependencies (or LIMITBATCH_PYTHON
# set to one), which Bazel uses as its Python toolchain (see
# third_party/README.md). Output base: /tmp/bazel-limitbatch (.bazelrc).
set -euo pipefail
cd "$(dirname "$0")/.."

BAZEL="${BAZEL:-/usr/bin/bazel-4}"

if [[ ! -x "$BAZEL" ]]; then
  echo "check_build: installing bazel-bootstrap (Bazel 4.2.3) with apt-get" >&2
  SUDO=()
  if [[ "$(id -u)" != 0 ]]; then SUDO=(sudo -n); fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq bazel-bootstrap >/dev/null
fi

PYTHON="${LIMITBATCH_PYTHON:-python3}"
if ! "$PYTHON" -c "import tensorflow, keras, pytest" 2>/dev/null; then
  echo "check_build: $PYTHON cannot import tensorflow, keras and pytest;" \
       "install the project's dependencies or set LIMITBATCH_PYTHON" >&2
  exit 1
fi

patterns=0
for arg in "$@"; do [[ "$arg" == -* ]] || patterns=$((patterns + 1)); done
if [[ $patterns -eq 0 ]]; then
  set -- "$@" //tests/...
fi
exec "$BAZEL" test "$@"
