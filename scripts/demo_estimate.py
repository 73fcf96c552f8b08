"""Before the demo starts: the precision it will use and about how long it will take here.

    python -m scripts.demo_estimate [GRPO arguments ...]    # scripts/demo.sh runs it after scripts/demo_check.py

Reads the demo's two configs with the same arguments the stages get (`SFT_ARGS`, the GRPO
arguments, `EVAL_PROBLEMS`), so the precision it prints is the one the run will use. The time is
the demo's measured stage times on a reference CPU (REFERENCE, one entry per precision, GRPO
generation engine and kind of CPU: with AMX, with AVX512-BF16 only, AVX2), scaled by the run's size
and by this CPU's matmul rate relative to the reference's, measured here for half a second at a
SmolLM2-135M layer's shape. A rough figure: it assumes the whole run scales with matmul speed, which
holds between machines of one kind, not across kinds: AMX's bf16 matmuls are so fast that other work
sets the pace there (a machine without AMX ran the demo 2.0x slower, 27 min 36 s against 13 min 30 s,
at 0.17x AMX's bf16 matmul rate).
"""

import os
import sys
import time
from pathlib import Path

import torch

import train_grpo
import train_sft
from helpers.config import ONEDNN_ISAS_WITHOUT_BF16, ConfigError, cpu_flags, parse_config, precision_summary
from scripts.demo_check import positive_int

# Seconds per unit of each stage, model loading and engine start included (SFT: its start-up apart), and
# matmul_gflops() on that machine at that precision (docs/speed.md has every measurement named here):
# - bf16, vllm, amx: the demo as shipped, `bash scripts/demo.sh` (setup already done), 2026-12-02, 2-core AMD EPYC with
#   AVX512-BF16 and AMX: 3 evaluations 135 s, SFT 144 s for 32 steps, the filter 156 s for 960 samples (engine
#   start included), GRPO 305 s for 10 steps.
# - bf16, vllm, avx512_bf16: the demo as shipped (fe9fb08 + SFT without gradient checkpointing: evaluation's vLLM
#   engine in-process, GRPO's colocated engine eager), `bash scripts/demo.sh` on a fresh clone, 2026-12-03, 2-core AMD
#   EPYC with AVX512-BF16 and no AMX, matmul_gflops(bf16) read 341 there (0.91x the run before's 375): 3 evaluations
#   ~165 s, SFT 8 s start-up + 242 s for 32 steps, the filter ~158 s for 960 samples, GRPO ~443 s for 10 steps (stage
#   starts read off its log's timestamps, +-5 s); 20 min 42 s in all, setup included. (The amx entry predates those
#   changes, so it overestimates the evaluations, the filter, SFT and GRPO there.)
# - fp32, hf, avx2: the demo at a reduced budget on a real 2-core AVX2-only CPU (AMD EPYC, 2026-12-04, 8f756d6:
#   `OUT=outputs/demo_small EVAL_PROBLEMS=20 FILTER_PROBLEMS=16 SFT_ARGS="--max_steps 8" bash scripts/demo.sh
#   --max_steps 2`, 10 min 2 s after the estimate, which then said ~16 min from the older projection; its matmul probe
#   read 102 GFLOP/s): 3 evaluations of 40 problems 172 s (start-up included, so high for 100), SFT 13 s start-up +
#   11.1 s per step, the filter 133 s for 128 samples, GRPO 190 s for 2 steps (start-up included; from an 8-step SFT
#   model, completions ~50 tokens).
# - bf16, hf, avx512_bf16: AVX512-BF16 without AMX, measured before the short prompt (46.1 s GRPO step, 7.5 s SFT
#   step, 0.38 s per evaluated problem), scaled by the short prompt's savings (GRPO 0.80x, as with AMX and transformers;
#   SFT 0.70x and evaluation 0.77x, as limited to AVX2); a filter sample as an evaluated problem's generation.
REFERENCE = {
    ("bf16", "hf", "avx512_bf16"): {"matmul_gflops": 955.0, "eval_s_per_problem": 0.29, "sft_startup_s": 8.0,
                                    "sft_s_per_step": 5.2, "filter_s_per_sample": 0.29, "grpo_s_per_step": 36.9},
    ("fp32", "hf", "avx2"): {"matmul_gflops": 102.0, "eval_s_per_problem": 1.43, "sft_startup_s": 13.0,
                             "sft_s_per_step": 11.1, "filter_s_per_sample": 1.04, "grpo_s_per_step": 95.0},
    ("bf16", "vllm", "amx"): {"matmul_gflops": 2253.0, "eval_s_per_problem": 0.225, "sft_startup_s": 6.0,
                              "sft_s_per_step": 4.3, "filter_s_per_sample": 0.16, "grpo_s_per_step": 30.5},
    ("bf16", "vllm", "avx512_bf16"): {"matmul_gflops": 341.0, "eval_s_per_problem": 0.275, "sft_startup_s": 8.0,
                                      "sft_s_per_step": 7.6, "filter_s_per_sample": 0.165, "grpo_s_per_step": 44.3},
}
REFERENCE_SFT_BATCH = 8  # configs/demo_sft.yaml
REFERENCE_GRPO_TOKENS = 32 * 96  # configs/demo_r1.yaml: completions per step x max_completion_length


def matmul_gflops(dtype: torch.dtype, windows: int = 5, seconds: float = 0.1) -> float:
    """This CPU's rate on a SmolLM2-135M MLP product (256 tokens x 576 -> 1536), in GFLOP/s: the best of a
    few short windows, which is steadier than one long average on a shared machine."""
    a, b = torch.randn(256, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(windows):
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            a @ b
            n += 1
        rates.append(2 * 256 * 576 * 1536 * n / (time.perf_counter() - start) / 1e9)
    return max(rates)


def cpu_kind() -> str:
    """amx, avx512_bf16 or avx2 (any CPU without bf16 instructions), from the CPU's own flags and the kernel
    level oneDNN is limited to (ONEDNN_MAX_CPU_ISA), as cpu_supports_bf16 reads them."""
    flags, isa = cpu_flags(), os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if isa in ONEDNN_ISAS_WITHOUT_BF16:
        return "avx2"
    if "amx_bf16" in flags and (isa in ("", "ALL") or "AMX" in isa):  # AVX512_CORE_AMX and later levels
        return "amx"
    return "avx512_bf16" if "avx512_bf16" in flags else "avx2"


CPU_KINDS = ("avx2", "avx512_bf16", "amx")  # slowest to fastest bf16 matmuls


def reference_for(precision: str, engine: str, kind: str) -> tuple[tuple[str, str, str], dict[str, float]]:
    """The closest measured reference: this precision, engine and kind of CPU; else this precision and engine
    on the nearest other kind (CPU_KINDS' order); else the same with transformers (fp32 with vLLM: not
    measured)."""
    def distance(key):
        return abs(CPU_KINDS.index(key[2]) - CPU_KINDS.index(kind))

    for wanted_engine in (engine, "hf"):
        candidates = [key for key in REFERENCE if key[:2] == (precision, wanted_engine)]
        if candidates:
            key = min(candidates, key=distance)
            return key, REFERENCE[key]
    raise KeyError(f"no reference for {precision}")


def main(grpo_argv: list[str]) -> None:
    sft_args = os.environ.get("SFT_ARGS", "").split()
    _, sft, *_ = parse_config(train_sft.ARGUMENT_TYPES, ["--config", "configs/demo_sft.yaml", *sft_args])
    _, _, grpo, *_ = parse_config(train_grpo.ARGUMENT_TYPES, ["--config", "configs/demo_r1.yaml", *grpo_argv])
    problems = positive_int("EVAL_PROBLEMS")
    print(precision_summary(grpo))
    precision = "bf16" if grpo.bf16 else "fp32"
    engine = "vllm" if grpo.use_vllm else "hf"
    key, ref = reference_for(precision, engine, cpu_kind())
    slowdown = ref["matmul_gflops"] / matmul_gflops(torch.bfloat16 if grpo.bf16 else torch.float32)
    out = Path(os.environ.get("OUT", "outputs/demo"))
    sft_reused = (out / "sft" / "model.safetensors").exists()
    sft_steps = 0 if sft_reused else sft.max_steps
    sft_batch = sft.per_device_train_batch_size * sft.gradient_accumulation_steps
    # demo.sh has already dropped a filter output made from other inputs; a retrained SFT model drops it too.
    filter_samples = 0 if sft_reused and (out / "filtered.jsonl").exists() else (
        positive_int("FILTER_PROBLEMS") * grpo.num_generations)
    grpo_tokens = grpo.per_device_train_batch_size * grpo.gradient_accumulation_steps * grpo.max_completion_length
    seconds = {  # on the reference machine
        f"evaluation (3 x {problems} problems, 2 wordings)": 3 * 2 * problems * ref["eval_s_per_problem"],
        f"SFT ({sft_steps} steps)": (ref["sft_startup_s"] + sft_steps * ref["sft_s_per_step"] * sft_batch
                                     / REFERENCE_SFT_BATCH) if sft_steps else 0.0,
        f"difficulty filter ({filter_samples} samples)": filter_samples * ref["filter_s_per_sample"],
        f"GRPO ({grpo.max_steps} steps)": grpo.max_steps * ref["grpo_s_per_step"] * grpo_tokens / REFERENCE_GRPO_TOKENS,
    }
    parts = ", ".join(f"{stage} ~{t * slowdown / 60:.0f} min" for stage, t in seconds.items())
    print(f"estimated time from here: ~{sum(seconds.values()) * slowdown / 60:.0f} min ({parts}; {precision} "
          f"matmuls here run at {1 / slowdown:.2f}x those of the reference, {'/'.join(key)})")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
