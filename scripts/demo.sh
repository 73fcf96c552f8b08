#!/usr/bin/env bash
# Set up (once) and run the CPU demo: the R1 recipe in miniature on SmolLM2-135M-Instruct.
#   1. evaluate the base model on held-out generated problems (greedy), worded as in training and
#      in other words
#   2. a short cold-start SFT on think/answer traces from the arithmetic generator (configs/demo_sft.yaml)
#   3. GRPO with the R1 rewards on the SFT model (configs/demo_r1.yaml)
#   4. evaluate after each stage; print the table and one problem answered before and after,
#      plot the reward curves. The final model is outputs/demo/.
# Extra arguments go to the GRPO stage, e.g. `bash scripts/demo.sh --max_steps 30`.
# Environment: OUT (default outputs/demo), EVAL_PROBLEMS (default 100), SFT_ARGS (extra
# train_sft.py arguments). A finished SFT stage and the base/SFT evaluations are reused while the
# problems, configs and these settings are unchanged (delete $OUT/sft to redo SFT); GRPO and its
# evaluation always run. Both stages' configs, with these arguments, are checked before
# the first evaluation starts, so a mistake costs seconds; then the precision and an estimate of
# the run's duration on this CPU are printed.
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

echo "=== checking both stages' configs"
[[ "${EVAL_PROBLEMS:-100}" =~ ^[1-9][0-9]*$ ]] || { echo "EVAL_PROBLEMS: '${EVAL_PROBLEMS}' is not a positive integer"; exit 1; }
# The evaluations ask under the template both configs name; an override of one stage's would train and
# evaluate under different system prompts.
# (The parser also takes dashes for underscores and unambiguous prefixes: --prompt-template, --prompt_t.)
for arg in "$@" "${SFT_EXTRA[@]}"; do
  key=${arg//-/_}
  [[ "$key" != __prompt_t* ]] || { echo "prompt_template, prompt_templates_file: set them in configs/demo_sft.yaml and demo_r1.yaml (both stages and the evaluations read them there), not as arguments ($arg)"; exit 1; }
done
python train_sft.py --config configs/demo_sft.yaml --output_dir "$OUT/sft" "${SFT_EXTRA[@]}" --check_only true
# The GRPO stage starts from the SFT model, which does not exist yet: check it with the base model.
python train_grpo.py --config configs/demo_r1.yaml --model_name_or_path "$BASE" --output_dir "$OUT" "${GRPO_ENGINE[@]}" "$@" --check_only true
echo "generation engine for GRPO and evaluation: $ENGINE"
# What the reused stages (the base and SFT evaluations, the SFT model) were made from: redo them when
# the problems, the SFT code or config, the scoring, the precision or these settings changed since.
INPUTS="$(cat data.py rewards.py train_sft.py helpers/*.py scripts/evaluate.py configs/demo_sft.yaml configs/prompts.yaml | sha1sum | cut -c1-16) bf16=$BF16 eval=${EVAL_PROBLEMS:-100} engine=$EVAL_ENGINE sft=${SFT_ARGS:-}"
if [ -f "$OUT/inputs.txt" ] && [ "$(cat "$OUT/inputs.txt")" != "$INPUTS" ] || { [ ! -f "$OUT/inputs.txt" ] && [ -d "$OUT/eval" ]; }; then
  echo "=== $OUT was made from other problems, configs or settings: redoing its evaluations and SFT"
  rm -rf "$OUT/eval" "$OUT/sft"
fi
mkdir -p "$OUT/eval"
echo "$INPUTS" > "$OUT/inputs.txt"
python scripts/demo_estimate.py "${GRPO_ENGINE[@]}" "$@"

evaluate() {  # evaluate <stage> <model>
  echo "=== evaluate $1 ($2) on ${EVAL_PROBLEMS:-100} held-out problems, in two wordings"
  python scripts/evaluate.py --model "$2" --output "$OUT/eval/$1.json" "${EVAL[@]}" | tail -n 4
}

[ -f "$OUT/eval/base.json" ] || evaluate base "$BASE"
if [ -f "$OUT/sft/model.safetensors" ]; then echo "=== SFT: reusing $OUT/sft"; else
  echo "=== cold-start SFT"
  rm -f "$OUT/eval/sft.json"  # it scored the SFT model this run replaces
  python train_sft.py --config configs/demo_sft.yaml --output_dir "$OUT/sft" "${SFT_EXTRA[@]}"
fi
[ -f "$OUT/eval/sft.json" ] || evaluate sft "$OUT/sft"
echo "=== GRPO on the SFT model"
python train_grpo.py --config configs/demo_r1.yaml --model_name_or_path "$OUT/sft" --output_dir "$OUT" "${GRPO_ENGINE[@]}" "$@"
evaluate grpo "$OUT"
python scripts/demo_report.py "$OUT"
echo "demo took $((SECONDS / 60)) min $((SECONDS % 60)) s"
