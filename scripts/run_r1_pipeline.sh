#!/usr/bin/env bash
# The R1 recipe end to end, every stage evaluated, ending in one table and one plot:
#   evaluate base -> R1-Zero GRPO -> rejection-sample from it -> cold-start SFT (Bespoke-Stratos
#   + the sampled traces) -> reasoning RL (GRPO) on the SFT model -> evaluate each -> report
# and, with SECOND_ROUND=1, the R1 paper's second round:
#   -> rejection-sample from the reasoning-RL model -> SFT of the base model on the cold-start
#   data + those traces -> final RL -> evaluate -> report
#
#   bash scripts/run_r1_pipeline.sh            # GPU: configs/zero.yaml, sft.yaml, r1.yaml
#   bash scripts/run_r1_pipeline.sh --demo     # CPU: SmolLM2-135M, tiny budgets (5-8 min on 2 cores)
#
# Each stage skips itself when its output exists, so re-running after a crash resumes at the
# stage that failed; every stage's config is checked before the first one starts (scripts/check_stages.py). Environment:
#   OUT=dir                   where everything goes (default outputs/pipeline[-demo])
#   GSM8K_SOURCE, MATH500_SOURCE  benchmark data: Hub ids (default) or local folders/files
#   REJECTION_SAMPLING=0      skip stage 4 and train SFT on Bespoke-Stratos alone
#   SECOND_ROUND=1            add stages 9-12 (configs/sft_round2.yaml, configs/rl_final.yaml)
#   EVAL_ARGS, RS_ARGS        extra arguments for scripts/evaluate.py / rejection_sample.py
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && . .venv/bin/activate

if [ "${1:-}" = "--demo" ]; then
  OUT=${OUT:-outputs/pipeline-demo}
  BASE_MODEL=checkpoints/SmolLM2-135M-Instruct
  TINY_RL=(--max_steps 2 --save_steps 2 --max_completion_length 48)
  ZERO=(--config configs/demo_zero.yaml "${TINY_RL[@]}")
  SFT=(--config configs/demo_sft.yaml --max_steps 2 --prompt_template r1_zero)  # the RL stages' template (demo_zero.yaml)
  R1=(--config configs/demo_zero.yaml "${TINY_RL[@]}" --reward_funcs accuracy format reasoning_steps cosine repetition
      language_consistency --reward_weights 1.0 0.5 0.2 0.5 0.5 0.2)
  SFT2=("${SFT[@]}")
  FINAL=("${R1[@]}")
  # transformers for these few problems: a vLLM engine takes ~20 s to start, longer than they take to answer
  EVAL=(--limit 2 --k 2 --max_new_tokens 32 --temperature 0.8 --backend hf)
  SAMPLE=(--dataset_name arithmetic --arithmetic_size 4 --num_samples 2 --max_new_tokens 64 --backend hf)
  [ -d "$BASE_MODEL" ] || python scripts/prepare_smollm2.py
else
  OUT=${OUT:-outputs/pipeline}
  BASE_MODEL=Qwen/Qwen2.5-0.5B-Instruct
  ZERO=(--config configs/zero.yaml)
  SFT=(--config configs/sft.yaml)
  R1=(--config configs/r1.yaml)
  SFT2=(--config configs/sft_round2.yaml)
  FINAL=(--config configs/rl_final.yaml)
  EVAL=(--k 8 --max_new_tokens 1024)
  SAMPLE=(--dataset_name openai/gsm8k --num_samples 8 --max_new_tokens 1024 --keep shortest)
fi
EVAL+=(--gsm8k_source "${GSM8K_SOURCE:-openai/gsm8k}" --math500_source "${MATH500_SOURCE:-HuggingFaceH4/MATH-500}")
read -r -a EXTRA_EVAL <<< "${EVAL_ARGS:-}"
read -r -a EXTRA_SAMPLE <<< "${RS_ARGS:-}"
mkdir -p "$OUT/eval"

# Every training and sampling stage's config, with its overrides, is checked before stage 1, so a
# mistake in a late stage costs seconds. Models that earlier stages produce are checked as the base.
echo "=== checking every stage's config"
CHECKS=(train_grpo.py "${ZERO[@]}" --model_name_or_path "$BASE_MODEL" --output_dir "$OUT/zero")
if [ "${REJECTION_SAMPLING:-1}" = 1 ]; then
  CHECKS+=(::: scripts/rejection_sample.py --model "$BASE_MODEL" "${SAMPLE[@]}" "${EXTRA_SAMPLE[@]}")
fi
CHECKS+=(::: train_sft.py "${SFT[@]}" --model_name_or_path "$BASE_MODEL" --output_dir "$OUT/sft")
CHECKS+=(::: train_grpo.py "${R1[@]}" --model_name_or_path "$BASE_MODEL" --output_dir "$OUT/r1")
if [ "${SECOND_ROUND:-0}" = 1 ]; then
  CHECKS+=(::: train_sft.py "${SFT2[@]}" --model_name_or_path "$BASE_MODEL" --output_dir "$OUT/sft2")
  CHECKS+=(::: train_grpo.py "${FINAL[@]}" --model_name_or_path "$BASE_MODEL" --output_dir "$OUT/r1_final")
fi
python -m scripts.check_stages "${CHECKS[@]}"  # one process: each stage's own checks, ~15 s of imports once

STAGES=8
[ "${SECOND_ROUND:-0}" = 1 ] && STAGES=12
stage() { echo; echo "=== $1/$STAGES ${*:2} ==="; }
trained() { [ -f "$1/model.safetensors" ] || [ -f "$1/adapter_model.safetensors" ]; }
evaluate() {  # evaluate <stage> <model>
  if [ -f "$OUT/eval/$1.json" ]; then echo "skip: $OUT/eval/$1.json exists"; return; fi
  python scripts/evaluate.py --model "$2" --output "$OUT/eval/$1.json" "${EVAL[@]}" "${EXTRA_EVAL[@]}"
}
train() {  # train <script> <output folder> <arguments...>: skipped when the folder holds a model
  if trained "$2"; then echo "skip: $2 exists"; else python "$1" "${@:3}" --output_dir "$2"; fi
}
rejection_sample() {  # rejection_sample <model> <output jsonl>
  if [ -f "$2" ]; then echo "skip: $2 exists"; return; fi
  python scripts/rejection_sample.py --model "$1" --output "$2.tmp" "${SAMPLE[@]}" "${EXTRA_SAMPLE[@]}" \
    | tee "${2%.jsonl}.json"
  mv "$2.tmp" "$2"
}

stage 1 evaluate the base model
evaluate base "$BASE_MODEL"

stage 2 "R1-Zero: GRPO on the base model"
train train_grpo.py "$OUT/zero" "${ZERO[@]}" --model_name_or_path "$BASE_MODEL"

stage 3 evaluate R1-Zero
evaluate zero "$OUT/zero"

SFT_EXTRA=()
if [ "${REJECTION_SAMPLING:-1}" = 1 ]; then
  stage 4 rejection-sample reasoning traces from R1-Zero
  rejection_sample "$OUT/zero" "$OUT/rejection_sampled.jsonl"
  SFT_EXTRA=(--extra_train_files "$OUT/rejection_sampled.jsonl")
else
  stage 4 "rejection sampling disabled (REJECTION_SAMPLING=0)"
fi

stage 5 cold-start SFT on the base model
train train_sft.py "$OUT/sft" "${SFT[@]}" --model_name_or_path "$BASE_MODEL" "${SFT_EXTRA[@]}"

stage 6 evaluate SFT
evaluate sft "$OUT/sft"

stage 7 "reasoning RL: GRPO on the SFT model (+ language consistency)"
train train_grpo.py "$OUT/r1" "${R1[@]}" --model_name_or_path "$OUT/sft"

stage 8 evaluate the reasoning-RL model
evaluate r1 "$OUT/r1"

if [ "${SECOND_ROUND:-0}" = 1 ]; then
  stage 9 rejection-sample from the reasoning-RL model
  rejection_sample "$OUT/r1" "$OUT/rejection_sampled_r1.jsonl"

  stage 10 "second SFT of the base model: cold-start data + the traces of stages 4 and 9"
  train train_sft.py "$OUT/sft2" "${SFT2[@]}" --model_name_or_path "$BASE_MODEL" \
    --extra_train_files "${SFT_EXTRA[@]:1}" "$OUT/rejection_sampled_r1.jsonl"

  stage 11 "final RL on the second SFT model"
  train train_grpo.py "$OUT/r1_final" "${FINAL[@]}" --model_name_or_path "$OUT/sft2"

  stage 12 evaluate the final model
  evaluate r1_final "$OUT/r1_final"
fi

echo
python scripts/pipeline_report.py "$OUT"
