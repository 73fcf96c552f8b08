"""Does the demo recipe learn? SFT once, then GRPO from the SFT model with several seeds; every
model is evaluated greedily on held-out generated problems (a seed the training never saw).

    python scripts/bench_learning.py                       # 3 GRPO seeds, 200 held-out problems (~40 min, 2 cores)
    python scripts/bench_learning.py --seeds 1 --eval_problems 50 --grpo_args "--max_steps 2"   # smoke run

Prints base -> SFT -> GRPO (format rate, accuracy, mean length) and the GRPO gain over SFT as
mean and spread over the seeds, and writes outputs/bench/learning.json. The commands are the
demo's own (scripts/demo.sh): train_sft.py, train_grpo.py and scripts/evaluate.py.
"""

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_MODEL = "checkpoints/SmolLM2-135M-Instruct"


def run(command: list[str]) -> float:
    print("$ " + shlex.join(command), flush=True)
    start = time.monotonic()
    subprocess.run(command, cwd=REPO_ROOT, check=True)
    return time.monotonic() - start


def evaluate(model: str, output: Path, problems: int) -> dict:
    run([sys.executable, "scripts/evaluate.py", "--model", model, "--benchmarks", "arithmetic", "--limit",
         str(problems), "--k", "1", "--max_new_tokens", "96", "--lenient", "false", "--output", str(output)])
    return json.loads(output.read_text())["benchmarks"]["arithmetic"]


def paired_changes(before: Path, after: Path) -> dict:
    """Held-out problems the later model gets right that the earlier one got wrong, and the reverse."""
    def verdicts(path):
        return [e["correct"] for e in json.loads(path.read_text())["greedy_completions"]["arithmetic"]]

    pairs = list(zip(verdicts(before), verdicts(after)))
    return {"fixed": sum(b and not a for a, b in pairs), "broken": sum(a and not b for a, b in pairs)}


def main(args) -> dict:
    out = args.out
    (out / "eval").mkdir(parents=True, exist_ok=True)
    results = {"settings": {k: str(v) for k, v in vars(args).items()}, "seconds": {}}
    results["base"] = evaluate(BASE_MODEL, out / "eval" / "base.json", args.eval_problems)
    results["seconds"]["sft"] = run([sys.executable, "train_sft.py", "--config", "configs/demo_sft.yaml",
                                     "--output_dir", str(out / "sft"), *shlex.split(args.sft_args)])
    results["sft"] = evaluate(str(out / "sft"), out / "eval" / "sft.json", args.eval_problems)
    results["grpo"] = {}
    for seed in args.seeds:
        run_dir = out / f"grpo-seed{seed}"
        results["seconds"][f"grpo-seed{seed}"] = run(
            [sys.executable, "train_grpo.py", "--config", "configs/demo_r1.yaml", "--model_name_or_path",
             str(out / "sft"), "--output_dir", str(run_dir), "--seed", str(seed), "--save_strategy", "no",
             *shlex.split(args.grpo_args)])
        results["grpo"][seed] = evaluate(str(run_dir), out / "eval" / f"grpo-seed{seed}.json", args.eval_problems)
        results["grpo"][seed] |= paired_changes(out / "eval" / "sft.json", out / "eval" / f"grpo-seed{seed}.json")
    gains = [r["pass@1"] - results["sft"]["pass@1"] for r in results["grpo"].values()]
    results["grpo_gain"] = {"mean": statistics.mean(gains), "min": min(gains), "max": max(gains),
                            "stdev": statistics.stdev(gains) if len(gains) > 1 else 0.0, "per_seed": gains}
    return results


def summary(results: dict) -> str:
    named = [("base", results["base"]), ("SFT", results["sft"])]
    named += [(f"GRPO seed {seed}", r) for seed, r in results["grpo"].items()]
    rows = ["| model | format rate | accuracy | mean length | vs SFT: fixed / broken |",
            "| --- | --- | --- | --- | --- |"]
    for name, r in named:
        paired = f"{r['fixed']} / {r['broken']}" if "fixed" in r else ""
        rows.append(f"| {name} | {r['format_rate']:.3f} | {r['pass@1']:.3f} | {r['mean_length']:.1f} | {paired} |")
    gain = results["grpo_gain"]
    rows.append(f"\nGRPO gain over SFT (accuracy): mean {gain['mean']:+.3f}, stdev {gain['stdev']:.3f}, "
                f"range [{gain['min']:+.3f}, {gain['max']:+.3f}] over {len(gain['per_seed'])} seed(s)")
    rows.append("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items()))
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--eval_problems", type=int, default=200)
    parser.add_argument("--sft_args", default="", help="extra train_sft.py arguments")
    parser.add_argument("--grpo_args", default="", help="extra train_grpo.py arguments")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "bench" / "learning")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "outputs" / "bench" / "learning.json")
    args = parser.parse_args()
    results = main(args)
    args.json.write_text(json.dumps(results, indent=2))
    print(summary(results))
    print(f"wrote {args.json}")
