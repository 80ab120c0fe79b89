#!/usr/bin/env bash
# Sets up .venv with the dev extra (first run) and runs the test suite. Extra arguments go to pytest.
#
# Without test paths among the arguments (CI: `scripts/test.sh -q`), a second
# pass runs the layer, loss and model tests again on each other installed
# Keras backend (KERAS_BACKEND=jax, then torch); the tests that drive
# TensorFlow itself are marked `tensorflow_backend` and skipped there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh dev
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
status=0
.venv/bin/python -m pytest "$@" || status=$?
for arg in "$@"; do
  case "$arg" in -*) ;; *) exit "$status" ;; esac  # Tests chosen by hand: one pass.
done
BACKEND_TESTS=(tests/test_layers.py tests/test_losses.py tests/test_models.py)
for backend in jax torch; do
  if .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$backend') is None)"; then
    echo "== layer, loss and model tests on KERAS_BACKEND=$backend"
    KERAS_BACKEND="$backend" .venv/bin/python -m pytest "$@" "${BACKEND_TESTS[@]}" || status=$?
  else
    echo "== $backend is not installed: no $backend pass"
  fi
done
exit "$status"
