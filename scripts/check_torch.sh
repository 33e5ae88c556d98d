#!/usr/bin/env bash
# The real check of `mtl-studio export torch` (scripts/check_torch.py), where torch is
# installed: every example's module against `predict`, then train.py under torchrun.
# PYTHON picks the interpreter (default python3); MTL_STUDIO a prebuilt binary.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import torch, safetensors' 2>/dev/null; then
    echo "check_torch: skipped, $PY cannot import torch and safetensors (pip install torch safetensors)"
    exit 0
fi
if [ -z "${MTL_STUDIO:-}" ]; then
    cargo build -q --bin mtl-studio
fi
exec "$PY" scripts/check_torch.py "$@"
