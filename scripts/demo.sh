#!/usr/bin/env bash
# Set up (once) and run the CPU demo: GRPO on SmolLM2-135M-Instruct with the R1 rewards.
# Extra arguments override the config, e.g. `bash scripts/demo.sh --max_steps 20`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
python train_grpo.py --config configs/demo.yaml "$@"
