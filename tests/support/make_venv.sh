#!/usr/bin/env bash
# Makes a Python environment for a test's PyPI-only tools (the official
# OpenTelemetry protobufs, the standardwebhooks package, ...):
#   make_venv.sh <venv dir> '<python that must run>' <pip requirement>...
# Safe to run twice: an environment where the check already runs is kept.
set -euo pipefail
venv="${1:?usage: make_venv.sh <venv dir> <check> <requirement>...}"
check="${2:?usage: make_venv.sh <venv dir> <check> <requirement>...}"
shift 2
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "make_venv: $venv is ready"
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "make_venv: python3 with venv and ensurepip is needed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
echo "make_venv: creating $venv with $*"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
"$venv/bin/python" -c "$check"
echo "make_venv: $venv is ready"
