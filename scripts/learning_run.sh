#!/usr/bin/env bash
# Does GRPO teach a small model? Evaluate SmolLM2-135M-Instruct on a fixed GSM8K-test subset,
# GRPO-train it on GSM8K train (configs/smollm2_gsm8k.yaml), evaluate again, plot the curves.
#   bash scripts/learning_run.sh                      # Hub data
#   GSM8K=../shared/data/gsm8k bash scripts/learning_run.sh    # local GSM8K folder
# Extra arguments go to train_grpo.py (e.g. --max_steps 300). Needs a GPU for a useful budget.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && . .venv/bin/activate
OUT=${OUT:-outputs/learning_run}
GSM8K=${GSM8K:-openai/gsm8k}
LIMIT=${LIMIT:-200}
DATA=(--dataset_name "$GSM8K")
[ "$GSM8K" = openai/gsm8k ] || DATA+=(--dataset_format gsm8k)
EVAL=(--benchmarks gsm8k --gsm8k_source "$GSM8K" --limit "$LIMIT" --k 1 --max_new_tokens 256 --backend hf)
mkdir -p "$OUT"
[ -d checkpoints/SmolLM2-135M-Instruct ] || python scripts/prepare_smollm2.py
python scripts/evaluate.py --model checkpoints/SmolLM2-135M-Instruct --output "$OUT/before.json" "${EVAL[@]}"
python train_grpo.py --config configs/smollm2_gsm8k.yaml "${DATA[@]}" --output_dir "$OUT/run" "$@"
python scripts/evaluate.py --model "$OUT/run" --output "$OUT/after.json" "${EVAL[@]}"
python scripts/plot_metrics.py "$OUT/run" --output "$OUT/curves.png"
python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
before, after = (json.load(open(f"{out}/{n}.json"))["benchmarks"]["gsm8k"] for n in ("before", "after"))
print("| GSM8K test subset | pass@1 | format rate | mean length |\n| --- | --- | --- | --- |")
for name, m in (("before", before), ("after", after)):
    print(f"| {name} | {m['pass@1']:.3f} | {m['format_rate']:.3f} | {m['mean_length']:.0f} |")
PY
