"""Where the demo's GRPO step spends its time, per phase and per generation engine, against this
CPU's arithmetic floor (the step's FLOPs at this CPU's measured matmul rate).

    python scripts/bench_demo_grpo_step.py                                # transformers and vLLM, 4 steps each
    python scripts/bench_demo_grpo_step.py --engines vllm vllm_no_is --steps 3 --model checkpoints/SmolLM2-135M-Instruct
    python scripts/bench_demo_grpo_step.py --engines hf -- --gradient_checkpointing true   # after --: config overrides

It runs `train_grpo.py --config configs/demo_r1.yaml` (the demo's own step: 4 prompts x 8
completions, <= 96 new tokens; the demo trains without gradient checkpointing where it uses vLLM, so
time its step with `-- --gradient_checkpointing false`) on `--model` (default: the demo's SFT model when it exists) and
times TRL's own methods: generation (`_generate`, minus the weight sync), the vLLM weight sync,
reward scoring, log-probs without gradient (old policy, when TRL computes them), the loss's
forward, the backward, and the optimizer. Engines, each in its own process (the first step,
with vLLM's engine start and warm-up, is not counted):
  hf          transformers generate (the demo's default)
  vllm        colocated vLLM as TRL drives it (with its importance-sampling correction, which costs
              one more forward pass over every completion)
  vllm_no_is  the same with `vllm_importance_sampling_correction: false`

The floor counts the matmuls the step cannot avoid (2 FLOPs per weight per token forward, 6 forward
and backward; the LM head only where logits are needed; attention over the context) at the rate of
a large matmul in the dtype that phase uses, measured here: it is what a perfectly efficient engine
would take, which no real one reaches at 32 sequences of ~170 tokens.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ENGINES = {"hf": ["--use_vllm", "false"], "vllm": ["--use_vllm", "true"],
           "vllm_no_is": ["--use_vllm", "true", "--vllm_importance_sampling_correction", "false"]}
PHASES = ["generation", "weight sync", "reward scoring", "log-probs (no grad)", "forward (loss)", "backward",
          "optimizer", "other"]


def large_matmul_gflops(dtype: torch.dtype, size: int = 2048, seconds: float = 1.0) -> float:
    """Best rate of a large square matmul: the CPU's practical peak in that dtype."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(3):
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds / 3:
            a @ b
            n += 1
        best = max(best, 2 * size**3 * n / (time.perf_counter() - start) / 1e9)
    return best


def timed(owner, name: str, totals: dict, phase=None) -> None:
    """Wrap owner.name so that each call adds its wall time to totals[phase(...)]."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            key = phase() if callable(phase) else (phase or name)
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def step_flops(model_config, prompt_tokens: list[int], completion_tokens: list[int], old_logps: bool) -> dict:
    """Floor FLOPs per phase for one step's sequences."""
    d, layers = model_config.hidden_size, model_config.num_hidden_layers
    head = model_config.vocab_size * d
    per_layer = 4 * d * d * (model_config.num_key_value_heads / model_config.num_attention_heads) / 2 + 2 * d * d \
        + 3 * d * model_config.intermediate_size  # q,o + k,v (GQA) + gated MLP
    body = layers * per_layer

    def forward(p: int, c: int) -> float:  # the LM head over the c completion positions only
        tokens = p + c
        attention = 4 * layers * d * tokens * tokens / 2  # scores and values, causal: half the square
        return 2 * body * tokens + 2 * head * c + attention

    # Generation (prefill, then one token at a time) and a training forward cost the same matmuls.
    forward_flops = sum(forward(p, c) for p, c in zip(prompt_tokens, completion_tokens))
    return {"generation": forward_flops, "log-probs (no grad)": forward_flops if old_logps else 0.0,
            "forward (loss)": forward_flops, "backward": 2 * forward_flops}


def run_engine(engine: str, model: str, steps: int, overrides: list[str]) -> dict:
    import resource
    import tempfile

    from transformers import TrainerCallback

    import train_grpo
    from helpers.config import parse_config

    class Phases(TrainerCallback):
        def __init__(self):
            self.totals, self.steps = {}, []

        def on_step_begin(self, args, state, control, **kwargs):
            self.totals.clear()
            self.start = time.perf_counter()

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            self.optimizer_start = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kwargs):
            self.totals["optimizer"] = time.perf_counter() - self.optimizer_start

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append({"step": time.perf_counter() - self.start, **self.totals})

    with tempfile.TemporaryDirectory() as out:
        argv = ["--config", "configs/demo_r1.yaml", "--model_name_or_path", model, "--output_dir", out,
                "--max_steps", str(steps), "--save_strategy", "no", *ENGINES[engine], *overrides]
        data_args, reward_args, training_args, model_args, *_ = parse_config(train_grpo.ARGUMENT_TYPES, argv)
        phases = Phases()
        trainer = train_grpo.build_trainer(data_args, reward_args, training_args, model_args, callbacks=[phases])
        totals, tokens = phases.totals, {"prompt": [], "completion": []}
        generate = trainer._generate

        def generate_and_count(prompts):
            output = generate(prompts)
            tokens["prompt"].append([len(p) for p in output[0]])
            tokens["completion"].append([len(c) for c in output[1]])
            return output

        trainer._generate = generate_and_count
        timed(trainer, "_generate", totals, "generation")
        if trainer.use_vllm:
            timed(trainer.vllm_generation, "sync_weights", totals, "weight sync")
        timed(trainer, "_calculate_rewards", totals, "reward scoring")
        timed(trainer, "_get_per_token_logps_and_entropies", totals,
              lambda: "inner forward" if torch.is_grad_enabled() else "log-probs (no grad)")
        timed(trainer, "compute_loss", totals, "forward (loss)")
        timed(trainer, "_prepare_inputs", totals, "prepare")
        timed(trainer, "training_step", totals, "training_step")
        trainer.train()
        old_logps = trainer.use_vllm and training_args.vllm_importance_sampling_correction
        bf16 = training_args.bf16
        model_config = trainer.model.config

    measured = phases.steps[1:] or phases.steps
    rows = []
    counted = {kind: lengths[-len(measured):] for kind, lengths in tokens.items()}
    for step, prompt, completion in zip(measured, counted["prompt"], counted["completion"]):
        row = {"step": step["step"], "generation": step.get("generation", 0.0) - step.get("weight sync", 0.0)}
        for phase in ("weight sync", "reward scoring", "log-probs (no grad)", "forward (loss)", "optimizer"):
            row[phase] = step.get(phase, 0.0)
        row["backward"] = step["training_step"] - step["prepare"] - step["forward (loss)"]
        row["other"] = row["step"] - sum(row[p] for p in PHASES if p != "other")
        row["flops"] = step_flops(model_config, prompt, completion, old_logps)
        row["completion_tokens"] = sum(completion)
        row["prompt_tokens"] = sum(prompt)
        rows.append(row)
    median = {key: statistics.median(r[key] for r in rows) for key in ["step", *PHASES]}
    flops = {phase: statistics.median(r["flops"][phase] for r in rows) for phase in rows[0]["flops"]}
    generation_dtype = torch.float32 if trainer.use_vllm or not bf16 else torch.bfloat16  # vLLM: the checkpoint's
    training_dtype = torch.bfloat16 if bf16 else torch.float32
    rates = {"generation": large_matmul_gflops(generation_dtype), "training": large_matmul_gflops(training_dtype)}
    floor = {phase: f / 1e9 / rates["generation" if phase == "generation" else "training"]
             for phase, f in flops.items()}
    return {"engine": engine, "model": model, "steps_measured": len(rows), "median_s": median, "floor_s": floor,
            "floor_total_s": sum(floor.values()), "matmul_gflops": rates,
            "generation_dtype": str(generation_dtype).removeprefix("torch."),
            "training_dtype": str(training_dtype).removeprefix("torch."), "overrides": overrides,
            "gradient_checkpointing": training_args.gradient_checkpointing,
            "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "prompt_tokens": statistics.median(r["prompt_tokens"] for r in rows),
            "completion_tokens": statistics.median(r["completion_tokens"] for r in rows)}


def table(results: list[dict]) -> str:
    lines = ["| phase (s, median) | " + " | ".join(r["engine"] for r in results) + " | floor (" + results[0]["engine"]
             + ") |", "| --- |" + " --- |" * (len(results) + 1)]
    for phase in ["step", *PHASES]:
        floor = results[0]["floor_total_s"] if phase == "step" else results[0]["floor_s"].get(phase)
        lines.append(f"| {phase} | " + " | ".join(f"{r['median_s'][phase]:.1f}" for r in results) + " | "
                     + (f"{floor:.2f}" if floor is not None else "") + " |")
    lines.append("| step / floor | " + " | ".join(f"{r['median_s']['step'] / r['floor_total_s']:.0f}x"
                                                 for r in results) + " | |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", nargs="+", default=["hf", "vllm"], choices=list(ENGINES))
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per engine (the first is not counted)")
    parser.add_argument("--model", default=None, help="default: outputs/demo/sft if it exists, else the base SmolLM2")
    parser.add_argument("--output", type=Path, default=Path("outputs/bench/demo_grpo_step.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one engine, print its JSON
    parser.add_argument("overrides", nargs="*", help="after --: train_grpo.py overrides of configs/demo_r1.yaml")
    args = parser.parse_args()
    model = args.model or next(p for p in ("outputs/demo/sft", "checkpoints/SmolLM2-135M-Instruct")
                               if Path(p, "config.json").exists())
    if args.one:
        print("RESULT " + json.dumps(run_engine(args.one, model, args.steps, args.overrides)))
        return
    results = []
    for engine in args.engines:
        proc = subprocess.run([sys.executable, __file__, "--one", engine, "--steps", str(args.steps),
                               "--model", model, "--", *args.overrides], capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            raise SystemExit(f"{engine} failed:\n{proc.stderr[-3000:]}")
        results.append(json.loads(lines[-1][len("RESULT "):]))
        r = results[-1]
        print(f"{engine}: {r['median_s']['step']:.1f} s/step, floor {r['floor_total_s']:.2f} s "
              f"({r['completion_tokens']:.0f} completion + {r['prompt_tokens']:.0f} prompt tokens; matmul "
              f"{r['matmul_gflops']['generation']:.0f} GFLOP/s {r['generation_dtype']} generation, "
              f"{r['matmul_gflops']['training']:.0f} {r['training_dtype']} training; gradient checkpointing "
              f"{r['gradient_checkpointing']}; peak RSS {r['peak_rss_GiB']:.1f} GiB)", flush=True)
    print(table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
