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
bash scripts/setup.sh
. .venv/bin/activate
export OUT=${OUT:-outputs/demo}
read -r -a SFT_EXTRA <<< "${SFT_ARGS:-}"
BASE=checkpoints/SmolLM2-135M-Instruct
# Generation engine: vLLM's CPU build where it is installed and measured faster (AVX-512), else transformers;
# GRPO's settings for each: helpers/generation.demo_grpo_engine_args. And the precision (for the reuse stamp
# below), in the same call: one torch import, not two.
SETTINGS=$(python -c "from helpers.config import cpu_supports_bf16
from helpers.generation import demo_grpo_engine_args as args, vllm_is_faster_here as fast
engine = 'vllm' if fast() else 'hf'; print(engine, cpu_supports_bf16(), *args(engine))")
read -r -a SETTING_WORDS <<< "$SETTINGS"
EVAL_ENGINE=${SETTING_WORDS[0]}; BF16=${SETTING_WORDS[1]}; GRPO_ENGINE=("${SETTING_WORDS[@]:2}")
if [ "$EVAL_ENGINE" = vllm ]; then ENGINE="vllm (vLLM's CPU build, colocated)"
else ENGINE="hf (transformers; vLLM is not installed or not faster on this CPU)"; fi
# Held-out problems in the training wording and in other words (data.ARITHMETIC_WORDINGS), under the
# system prompt both stages train with.
TEMPLATE=$(python -c "import yaml; print(*{yaml.safe_load(open(f'configs/demo_{s}.yaml'))['prompt_template'] for s in ('sft', 'r1')})")
[[ "$TEMPLATE" != *" "* ]] || { echo "configs/demo_sft.yaml and demo_r1.yaml name different prompt templates: $TEMPLATE"; exit 1; }
EVAL=(--benchmarks arithmetic arithmetic_reworded --limit "${EVAL_PROBLEMS:-100}" --k 1 --max_new_tokens 96
      --lenient false --backend "$EVAL_ENGINE" --prompt_template "$TEMPLATE")

echo "=== checking every stage's config"
[[ "${EVAL_PROBLEMS:-100}" =~ ^[1-9][0-9]*$ ]] || { echo "EVAL_PROBLEMS: '${EVAL_PROBLEMS}' is not a positive integer"; exit 1; }
# The evaluations ask under the template both configs name; an override of one stage's would train and
# evaluate under different system prompts.
# (The parser also takes dashes for underscores and unambiguous prefixes: --prompt-template, --prompt_t.)
read -r -a FILTER_EXTRA <<< "${FILTER_ARGS:-}"
for arg in "$@" "${SFT_EXTRA[@]}" "${FILTER_EXTRA[@]}"; do
  key=${arg//-/_}
  [[ "$key" != __prompt_t* ]] || { echo "prompt_template, prompt_templates_file: set them in configs/demo_sft.yaml and demo_r1.yaml (both stages and the evaluations read them there), not as arguments ($arg)"; exit 1; }
done
python train_sft.py --config configs/demo_sft.yaml --output_dir "$OUT/sft" "${SFT_EXTRA[@]}" --check_only true
# The GRPO stage starts from the SFT model, which does not exist yet: check it with the base model.
python train_grpo.py --config configs/demo_r1.yaml --model_name_or_path "$BASE" --output_dir "$OUT" "${GRPO_ENGINE[@]}" "$@" --check_only true
# The filter samples as the GRPO stage will, with its arguments (helpers/sampling.grpo_filter_args), and keeps
# at least one generation round of prompts (--min_kept): below that it writes every candidate instead.
# (Captured first: `set -e` checks an assignment's command substitution, not a here-string's.)
SAMPLING=$(python -c "import sys; from helpers.sampling import grpo_filter_args
print(*grpo_filter_args('configs/demo_r1.yaml', sys.argv[1:]))" "$@")
read -r -a FILTER_SAMPLING <<< "$SAMPLING"
FILTER=("${FILTER_SAMPLING[@]}" --arithmetic_size "${FILTER_PROBLEMS:-120}" --backend "$EVAL_ENGINE" "${FILTER_EXTRA[@]}"
        --output "$OUT/filtered.jsonl")
PER_ROUND=${SAMPLING##* }  # grpo_filter_args ends with --min_kept <one generation round of prompts>
[[ "${FILTER_PROBLEMS:-120}" =~ ^[0-9]+$ ]] && [ "${FILTER_PROBLEMS:-120}" -ge "$PER_ROUND" ] || { echo "FILTER_PROBLEMS: '${FILTER_PROBLEMS:-120}' must be a number of at least $PER_ROUND (the prompts of one GRPO generation round)"; exit 1; }
python scripts/difficulty_filter.py --model "$OUT/sft" "${FILTER[@]}" --check_only true
echo "generation engine for GRPO and evaluation: $ENGINE"
# What the reused stages (the base and SFT evaluations, the SFT model) were made from: redo them when
# the problems, the SFT code or config, the scoring, the precision or these settings changed since.
INPUTS="$(cat data.py rewards.py train_sft.py helpers/*.py scripts/evaluate.py configs/demo_sft.yaml configs/prompts.yaml | sha1sum | cut -c1-16) bf16=$BF16 eval=${EVAL_PROBLEMS:-100} engine=$EVAL_ENGINE sft=${SFT_ARGS:-}"
if [ -f "$OUT/inputs.txt" ] && [ "$(cat "$OUT/inputs.txt")" != "$INPUTS" ] || { [ ! -f "$OUT/inputs.txt" ] && [ -d "$OUT/eval" ]; }; then
  echo "=== $OUT was made from other problems, configs or settings: redoing its evaluations and SFT"
  rm -rf "$OUT/eval" "$OUT/sft" "$OUT"/filtered.*
fi
mkdir -p "$OUT/eval"
echo "$INPUTS" > "$OUT/inputs.txt"
# The filter's output also depends on what GRPO samples (configs/demo_r1.yaml) and on the filter itself.
FILTER_INPUTS="$(cat configs/demo_r1.yaml scripts/difficulty_filter.py | sha1sum | cut -c1-16) $INPUTS filter=${FILTER[*]}"
[ "$(cat "$OUT/filtered.inputs" 2>/dev/null)" = "$FILTER_INPUTS" ] || rm -f "$OUT"/filtered.*
python scripts/demo_estimate.py "${GRPO_ENGINE[@]}" "$@"

evaluate() {  # evaluate <stage> <model>
  echo "=== evaluate $1 ($2) on ${EVAL_PROBLEMS:-100} held-out problems, in two wordings"
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
