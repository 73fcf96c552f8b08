#!/usr/bin/env bash
# Set up (once) and run the CPU demo: the R1 recipe in miniature on SmolLM2-135M-Instruct.
#   1. evaluate the base model on held-out generated problems (greedy), worded as in training and
#      in other words
#   2. cold-start SFT on think/answer traces from the arithmetic generator (configs/demo_sft.yaml,
#      32 steps: the format learned, accuracy still rising; docs/learning.md)
#   3. the difficulty filter: keep the candidate problems the SFT model solves sometimes but not
#      always, sampled as the GRPO stage samples (scripts/difficulty_filter.py, helpers/sampling.grpo_filter_args)
#   4. GRPO with the R1 rewards on the SFT model, on the kept problems (configs/demo_r1.yaml)
#   5. evaluate after each stage; print the table and one problem answered before and after,
#      plot the reward curves. The final model is outputs/demo/.
# Extra arguments go to the GRPO stage, e.g. `bash scripts/demo.sh --max_steps 30`.
# Environment: OUT (default outputs/demo), EVAL_PROBLEMS (default 100), SFT_ARGS (extra
# train_sft.py arguments), FILTER_PROBLEMS (candidates the filter samples, default 120), FILTER_ARGS
# (extra scripts/difficulty_filter.py arguments, e.g. "--min_pass_rate 0.2"). A finished
# SFT stage, the base/SFT evaluations and the filter's output are reused while the problems, configs
# and these settings are unchanged (delete $OUT/sft to redo SFT); GRPO and its evaluation always run.
# Every stage's config, with these arguments, is checked before the first evaluation starts, so a
# mistake costs seconds; then the precision and an estimate of the run's duration on this CPU are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --demo
. .venv/bin/activate
export OUT=${OUT:-outputs/demo}
read -r -a SFT_EXTRA <<< "${SFT_ARGS:-}"
BASE=checkpoints/SmolLM2-135M-Instruct

echo "=== checking every stage's config"
# One process checks each stage's config with these arguments (SFT, GRPO and the filter, each by its own
# script's checks) and sets what the stages share: EVAL_ENGINE (vllm where vLLM's CPU build is installed and
# measured faster, on AVX-512 CPUs; else hf), GRPO_ENGINE (GRPO's settings for that engine), BF16 (the
# precision, for the reuse stamp below), TEMPLATE (the system prompt both configs train with, which the
# evaluations ask under), FILTER (the filter's arguments: it samples as the GRPO stage will), and
# EVAL_PROBLEMS and FILTER_PROBLEMS (checked, defaults filled in). A mistake stops here, in seconds
# (scripts/demo_check.py).
# (Captured first: `set -e` checks an assignment's command substitution, not an eval's.)
SETTINGS=$(python -m scripts.demo_check "$@")  # as a module: it imports scripts/difficulty_filter.py
eval "$SETTINGS"
export EVAL_PROBLEMS FILTER_PROBLEMS  # for the estimate
if [ "$EVAL_ENGINE" = vllm ]; then ENGINE="vllm (vLLM's CPU build, colocated)"
else ENGINE="hf (transformers; vLLM is not installed or not faster on this CPU)"; fi
# Held-out problems in the training wording and in other words (data.ARITHMETIC_WORDINGS).
EVAL=(--benchmarks arithmetic arithmetic_reworded --limit "$EVAL_PROBLEMS" --k 1 --max_new_tokens 96
      --lenient false --backend "$EVAL_ENGINE" --prompt_template "$TEMPLATE")
echo "generation engine for GRPO and evaluation: $ENGINE"
# What the reused stages (the base and SFT evaluations, the SFT model) were made from: redo them when
# the problems, the SFT code or config, the scoring, the precision or these settings changed since.
INPUTS="$(cat data.py rewards.py train_sft.py helpers/*.py scripts/evaluate.py configs/demo_sft.yaml configs/prompts.yaml | sha1sum | cut -c1-16) bf16=$BF16 eval=$EVAL_PROBLEMS engine=$EVAL_ENGINE sft=${SFT_ARGS:-}"
if [ -f "$OUT/inputs.txt" ] && [ "$(cat "$OUT/inputs.txt")" != "$INPUTS" ] || { [ ! -f "$OUT/inputs.txt" ] && [ -d "$OUT/eval" ]; }; then
  echo "=== $OUT was made from other problems, configs or settings: redoing its evaluations and SFT"
  rm -rf "$OUT/eval" "$OUT/sft" "$OUT"/filtered.*
fi
mkdir -p "$OUT/eval"
echo "$INPUTS" > "$OUT/inputs.txt"
# The filter's output also depends on what GRPO samples (configs/demo_r1.yaml) and on the filter itself.
FILTER_INPUTS="$(cat configs/demo_r1.yaml scripts/difficulty_filter.py | sha1sum | cut -c1-16) $INPUTS filter=${FILTER[*]}"
[ "$(cat "$OUT/filtered.inputs" 2>/dev/null)" = "$FILTER_INPUTS" ] || rm -f "$OUT"/filtered.*
python -m scripts.demo_estimate "${GRPO_ENGINE[@]}" "$@"

evaluate() {  # evaluate <stage> <model>
  echo "=== evaluate $1 ($2) on $EVAL_PROBLEMS held-out problems, in two wordings"
  python scripts/evaluate.py --model "$2" --output "$OUT/eval/$1.json" "${EVAL[@]}" | tail -n 4
}

[ -f "$OUT/eval/base.json" ] || evaluate base "$BASE"
if [ -f "$OUT/sft/model.safetensors" ]; then echo "=== SFT: reusing $OUT/sft"; else
  echo "=== cold-start SFT"
  rm -f "$OUT/eval/sft.json" "$OUT"/filtered.*  # they came from the SFT model this run replaces
  python train_sft.py --config configs/demo_sft.yaml --output_dir "$OUT/sft" "${SFT_EXTRA[@]}"
fi
[ -f "$OUT/eval/sft.json" ] || evaluate sft "$OUT/sft"
if [ -f "$OUT/filtered.jsonl" ]; then echo "=== difficulty filter: reusing $OUT/filtered.jsonl"; else
  echo "=== difficulty filter: the candidate problems the SFT model solves sometimes but not always"
  python scripts/difficulty_filter.py --model "$OUT/sft" "${FILTER[@]}"
  echo "$FILTER_INPUTS" > "$OUT/filtered.inputs"
fi
echo "=== GRPO on the SFT model, on the kept problems"
python train_grpo.py --config configs/demo_r1.yaml --model_name_or_path "$OUT/sft" --dataset_name "$OUT/filtered.jsonl" \
  --dataset_format gsm8k --output_dir "$OUT" "${GRPO_ENGINE[@]}" "$@"
evaluate grpo "$OUT"
python scripts/demo_report.py "$OUT"
echo "demo took $((SECONDS / 60)) min $((SECONDS % 60)) s"
