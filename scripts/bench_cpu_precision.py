"""Demo step time on this CPU with bf16 compute (autocast, fp32 master weights) vs plain fp32.

    python scripts/bench_cpu_precision.py                 # 10 SFT steps + 4 GRPO steps per variant (~8 min, 2 cores)

Each variant runs the demo's own configs (configs/demo_sft.yaml, configs/demo_r1.yaml on a model
SFT'd by the first variant) in a fresh process, and reports seconds per step from the trainer's
log and the SFT loss reached, so "as fast" and "learns as well" are read off the same run.
Writes outputs/bench/cpu_precision.json.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from helpers.config import cpu_supports_bf16

REPO_ROOT = Path(__file__).resolve().parent.parent


def train(script: str, config: str, output_dir: Path, bf16: bool, *extra: str) -> list[dict]:
    subprocess.run([sys.executable, script, "--config", config, "--output_dir", str(output_dir),
                    "--bf16", str(bf16).lower(), "--save_strategy", "no", "--logging_steps", "1", *extra],
                   cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    return json.loads((output_dir / "trainer_state.json").read_text())["log_history"]


def seconds_per_step(history: list[dict], skip_first: bool = True) -> float:
    """Mean of the per-step times after the first (which holds one-off warm-up)."""
    (summary,) = [e for e in history if "train_runtime" in e]
    steps = [e for e in history if "loss" in e]
    if "step_time" in steps[0]:
        times = [e["step_time"] for e in steps][1 if skip_first else 0:]
        return sum(times) / len(times)
    return summary["train_runtime"] / len(steps)


def main(args) -> dict:
    out, results = args.out, {"cpu_supports_bf16": cpu_supports_bf16()}
    # Without bf16 instructions bf16 is emulated (and `--bf16 true` a config error): fp32 only.
    variants = (True, False) if cpu_supports_bf16() else (False,)
    if len(variants) == 1:
        print("this CPU has no AVX512-BF16/AMX (or R1_CPU_BF16=0): measuring fp32 only", flush=True)
    for bf16 in variants:
        name = "bf16" if bf16 else "fp32"
        sft = train("train_sft.py", "configs/demo_sft.yaml", out / f"sft-{name}", bf16,
                    "--max_steps", str(args.sft_steps))
        losses = [e["loss"] for e in sft if "loss" in e]
        # Both GRPO variants start from the same SFT model (the first variant's).
        grpo = train("train_grpo.py", "configs/demo_r1.yaml", out / f"grpo-{name}", bf16, "--model_name_or_path",
                     str(out / f"sft-{'bf16' if variants[0] else 'fp32'}"), "--max_steps", str(args.grpo_steps))
        results[name] = {"sft_s_per_step": seconds_per_step(sft), "sft_final_loss": losses[-1],
                         "grpo_s_per_step": seconds_per_step(grpo)}
        print(name, results[name], flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft_steps", type=int, default=10)
    parser.add_argument("--grpo_steps", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "bench" / "cpu_precision")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "outputs" / "bench" / "cpu_precision.json")
    args = parser.parse_args()
    results = main(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"| variant | SFT s/step | SFT loss after {args.sft_steps} steps | GRPO s/step |\n| --- | --- | --- | --- |")
    for name in [v for v in ("bf16", "fp32") if v in results]:
        r = results[name]
        print(f"| {name} | {r['sft_s_per_step']:.2f} | {r['sft_final_loss']:.4f} | {r['grpo_s_per_step']:.1f} |")
    print(f"wrote {args.json}")
