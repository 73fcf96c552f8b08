#!/usr/bin/env bash
# The R1 recipe end to end, every stage evaluated, ending in one table and one plot:
#   evaluate base -> R1-Zero GRPO -> rejection-sample from it -> cold-start SFT (Bespoke-Stratos
#   + the sampled traces) -> R1 GRPO on the SFT model -> evaluate each -> report
#
#   bash scripts/run_r1_pipeline.sh            # GPU: configs/zero.yaml, sft.yaml, r1.yaml
#   bash scripts/run_r1_pipeline.sh --demo     # CPU: SmolLM2-135M, tiny budgets (5-8 min on 2 cores)
#
# Each stage skips itself when its output exists, so re-running after a crash resumes at the
# stage that failed. Environment:
#   OUT=dir                   where everything goes (default outputs/pipeline[-demo])
#   GSM8K_SOURCE, MATH500_SOURCE  benchmark data: Hub ids (default) or local folders/files
#   REJECTION_SAMPLING=0      skip stage 3 and train SFT on Bespoke-Stratos alone
#   EVAL_ARGS, RS_ARGS        extra arguments for scripts/evaluate.py / rejection_sample.py
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && . .venv/bin/activate

if [ "${1:-}" = "--demo" ]; then
  OUT=${OUT:-outputs/pipeline-demo}
  BASE_MODEL=checkpoints/SmolLM2-135M-Instruct
  TINY_RL=(--max_steps 2 --save_steps 2 --max_completion_length 48 --reward_kwargs '{"cosine": {"max_len": 48}}')
  ZERO=(--config configs/demo.yaml "${TINY_RL[@]}")
  SFT=(--config configs/demo_sft.yaml --max_steps 2 --save_steps 2)
  R1=(--config configs/demo_r1.yaml "${TINY_RL[@]}")
  EVAL=(--limit 2 --k 2 --max_new_tokens 32 --temperature 0.8)
  SAMPLE=(--dataset_name arithmetic --arithmetic_size 4 --num_samples 2 --max_new_tokens 64)
  [ -d "$BASE_MODEL" ] || python scripts/prepare_smollm2.py
else
  OUT=${OUT:-outputs/pipeline}
  BASE_MODEL=Qwen/Qwen2.5-0.5B-Instruct
  ZERO=(--config configs/zero.yaml)
  SFT=(--config configs/sft.yaml)
  R1=(--config configs/r1.yaml)
  EVAL=(--k 8 --max_new_tokens 1024)
  SAMPLE=(--dataset_name openai/gsm8k --num_samples 8 --max_new_tokens 1024 --keep shortest)
fi
EVAL+=(--gsm8k_source "${GSM8K_SOURCE:-openai/gsm8k}" --math500_source "${MATH500_SOURCE:-HuggingFaceH4/MATH-500}")
read -r -a EXTRA_EVAL <<< "${EVAL_ARGS:-}"
read -r -a EXTRA_SAMPLE <<< "${RS_ARGS:-}"
mkdir -p "$OUT/eval"

stage() { echo; echo "=== $* ==="; }
trained() { [ -f "$1/model.safetensors" ] || [ -f "$1/adapter_model.safetensors" ]; }
evaluate() {  # evaluate <stage> <model>
  if [ -f "$OUT/eval/$1.json" ]; then echo "skip: $OUT/eval/$1.json exists"; return; fi
  python scripts/evaluate.py --model "$2" --output "$OUT/eval/$1.json" "${EVAL[@]}" "${EXTRA_EVAL[@]}"
}

stage "1/8 evaluate the base model"
evaluate base "$BASE_MODEL"

stage "2/8 R1-Zero: GRPO on the base model"
trained "$OUT/zero" && echo "skip: $OUT/zero exists" || \
  python train_grpo.py "${ZERO[@]}" --model_name_or_path "$BASE_MODEL" --output_dir "$OUT/zero"

stage "3/8 evaluate R1-Zero"
evaluate zero "$OUT/zero"

SFT_EXTRA=()
if [ "${REJECTION_SAMPLING:-1}" = 1 ]; then
  stage "4/8 rejection-sample reasoning traces from R1-Zero"
  if [ -f "$OUT/rejection_sampled.jsonl" ]; then echo "skip: $OUT/rejection_sampled.jsonl exists"; else
    python scripts/rejection_sample.py --model "$OUT/zero" --output "$OUT/rejection_sampled.jsonl.tmp" \
      "${SAMPLE[@]}" "${EXTRA_SAMPLE[@]}" | tee "$OUT/rejection_sampling.json"
    mv "$OUT/rejection_sampled.jsonl.tmp" "$OUT/rejection_sampled.jsonl"
  fi
  SFT_EXTRA=(--extra_train_files "$OUT/rejection_sampled.jsonl")
else
  stage "4/8 rejection sampling disabled (REJECTION_SAMPLING=0)"
fi

stage "5/8 cold-start SFT on the base model"
trained "$OUT/sft" && echo "skip: $OUT/sft exists" || \
  python train_sft.py "${SFT[@]}" --model_name_or_path "$BASE_MODEL" --output_dir "$OUT/sft" "${SFT_EXTRA[@]}"

stage "6/8 evaluate SFT"
evaluate sft "$OUT/sft"

stage "7/8 R1: GRPO on the SFT model (+ language consistency)"
trained "$OUT/r1" && echo "skip: $OUT/r1 exists" || \
  python train_grpo.py "${R1[@]}" --model_name_or_path "$OUT/sft" --output_dir "$OUT/r1"

stage "8/8 evaluate R1 and report"
evaluate r1 "$OUT/r1"
python scripts/pipeline_report.py "$OUT"
