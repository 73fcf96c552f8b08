"""Does the demo's GRPO stage make the model better? A learning curve over seeds, with baselines.

    python scripts/bench_learning.py                           # 3 seeds x the demo's GRPO stage (~30 min, 2 cores)
    python scripts/bench_learning.py --grpo_args "--max_steps 40" --eval_every 10   # a longer budget
    python scripts/bench_learning.py --seeds 1 --eval_problems 20 --grpo_args "--max_steps 2" --eval_every 1  # smoke

The demo's own commands and configs (scripts/demo.sh): cold-start SFT once (configs/demo_sft.yaml),
then GRPO from the SFT model (configs/demo_r1.yaml) once per seed, a checkpoint every `eval_every`
steps. Every model is evaluated greedily on held-out problems (the test split, never trained on) in two
wordings: the generator's (`arithmetic`) and other words for the same problems
(`arithmetic_reworded`), so a gain that is only the training phrasing shows. The baseline is an
SFT-only model trained for the same wall time as SFT + GRPO (on fresh problems): does RL add what
more SFT would not?

Prints the table (accuracy per wording, problems fixed / broken vs SFT) and the GRPO gain over SFT
as mean and range over the seeds; writes outputs/bench/learning.json and the curve
outputs/bench/learning.png (accuracy vs GRPO step and vs wall time).
"""

import argparse
import hashlib
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from helpers.generation import demo_grpo_engine_args, vllm_is_faster_here
from helpers.plots import save

REPO_ROOT = Path(__file__).resolve().parent.parent

BASE_MODEL = "checkpoints/SmolLM2-135M-Instruct"
BENCHMARKS = ("arithmetic", "arithmetic_reworded")
# Evaluated under the system prompt the demo trains with (both demo configs name the same one).
TEMPLATE = yaml.safe_load((REPO_ROOT / "configs" / "demo_r1.yaml").read_text())["prompt_template"]


# What a stage's result depends on besides its command line: a change to any of these redoes every stage.
INPUTS = ["data.py", "rewards.py", "train_sft.py", "train_grpo.py", "scripts/evaluate.py", "configs/demo_sft.yaml",
          "configs/demo_r1.yaml", "configs/prompts.yaml",
          *sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "helpers").glob("*.py"))]


def inputs_digest() -> str:
    return hashlib.sha1(b"".join(path.encode() + (REPO_ROOT / path).read_bytes() for path in INPUTS)).hexdigest()[:16]


def run(command: list[str]) -> None:
    print("$ " + shlex.join(command), flush=True)
    subprocess.run(command, cwd=REPO_ROOT, check=True)


def cached(key: dict, record: Path) -> bool:
    """Whether `record` holds the result of exactly this stage: the same command, run on the same
    upstream results (a rerun with other arguments, or after an upstream stage was redone, redoes it)."""
    return record.exists() and json.loads(record.read_text())["key"] == key


def run_stage(command: list[str], record: Path, after: Path | None = None, clear: Path | None = None) -> dict:
    """Run a stage once: its record (key and wall seconds), reused while the command, the files it reads
    (INPUTS) and the record `after` of the stage it reads are unchanged; `clear`: a folder emptied before a rerun."""
    key = {"command": command, "inputs": inputs_digest(),
           "after": json.loads(after.read_text()) if after is not None else None}
    if not cached(key, record):
        if clear is not None:
            shutil.rmtree(clear, ignore_errors=True)  # no checkpoint of an earlier run may join the curve
        start = time.monotonic()
        run(command)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"key": key, "seconds": round(time.monotonic() - start, 1)}))
    return json.loads(record.read_text())


def train(command: list[str], output_dir: Path, after: Path | None = None) -> float:
    """Run a training command (reading the output of the stage recorded in `after`) and return its wall
    time; a rerun of the same stage reuses the finished run, any other starts from an empty folder."""
    command = command + ["--output_dir", str(output_dir)]
    return run_stage(command, output_dir / "bench_run.json", after, clear=output_dir)["seconds"]


def evaluate(model: Path | str, output: Path, problems: int, backend: str, after: Path | None = None) -> dict:
    """Greedy scores per benchmark, with the per-problem verdicts for paired comparisons (`after`: the
    record of the run that made the model)."""
    run_stage([sys.executable, "scripts/evaluate.py", "--model", str(model), "--benchmarks", *BENCHMARKS, "--limit",
               str(problems), "--k", "1", "--max_new_tokens", "96", "--lenient", "false", "--backend", backend,
               "--prompt_template", TEMPLATE, "--output", str(output)], output.with_suffix(".record.json"), after)
    result = json.loads(output.read_text())
    return {name: result["benchmarks"][name] | {"correct": [e["correct"] for e in result["greedy_completions"][name]]}
            for name in BENCHMARKS}


def paired(before: dict, after: dict) -> dict:
    """Per benchmark: problems the later model gets right that the earlier one got wrong, and the reverse."""
    out = {}
    for name in BENCHMARKS:
        if len(before[name]["correct"]) != len(after[name]["correct"]):
            raise ValueError(f"{name}: {len(before[name]['correct'])} problems before, {len(after[name]['correct'])} "
                             "after; paired counts need the same problems")
        pairs = list(zip(before[name]["correct"], after[name]["correct"]))
        out[name] = {"fixed": sum(b and not a for a, b in pairs), "broken": sum(a and not b for a, b in pairs)}
    return out


def log_history(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "trainer_state.json").read_text())["log_history"]


def sft_runtime(run_dir: Path) -> float:
    """The seconds the trainer spent in its steps (TRL's `train_runtime`), without start-up."""
    return next(e["train_runtime"] for e in log_history(run_dir) if "train_runtime" in e)


def grpo_seconds_per_step(run_dir: Path) -> list[float]:
    """Wall time of each optimizer step, as TRL logged it (`step_time`), from the run's log history."""
    return [e["step_time"] for e in log_history(run_dir) if "step_time" in e]


def main(args) -> dict:
    out = args.out
    (out / "eval").mkdir(parents=True, exist_ok=True)
    engine = args.engine if args.engine != "auto" else "vllm" if vllm_is_faster_here() else "hf"  # as the demo
    results = {"settings": {k: str(v) for k, v in vars(args).items()} | {"engine": engine}, "seconds": {}, "grpo": {}}

    def scores(model, name, run_dir=None):
        after = run_dir / "bench_run.json" if run_dir is not None else None
        return evaluate(model, out / "eval" / f"{name}.json", args.eval_problems, engine, after)

    results["base"] = scores(BASE_MODEL, "base")
    sft_dir = out / "sft"
    results["seconds"]["sft"] = train([sys.executable, "train_sft.py", "--config", "configs/demo_sft.yaml",
                                       *shlex.split(args.sft_args)], sft_dir)
    sft_steps = json.loads((sft_dir / "trainer_state.json").read_text())["global_step"]
    results["sft"] = scores(sft_dir, "sft", sft_dir)

    for seed in args.seeds:
        run_dir = out / f"grpo-seed{seed}"
        seconds = train([sys.executable, "train_grpo.py", "--config", "configs/demo_r1.yaml", "--model_name_or_path",
                         str(sft_dir), "--seed", str(seed), *demo_grpo_engine_args(engine),
                         *shlex.split(args.grpo_args), "--save_strategy", "steps", "--save_steps", str(args.eval_every),
                         "--save_only_model", "true"], run_dir, after=sft_dir / "bench_run.json")
        results["seconds"][f"grpo-seed{seed}"] = seconds
        step_times = grpo_seconds_per_step(run_dir)
        curve = [{"step": 0, "wall_s": results["seconds"]["sft"], **results["sft"]}]
        checkpoints = sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        for checkpoint in checkpoints:
            step = int(checkpoint.name.split("-")[1])
            # GRPO's wall time: engine and model start-up spread evenly over its steps, so that the
            # last point's time is what the whole run took.
            wall = results["seconds"]["sft"] + seconds * sum(step_times[:step]) / sum(step_times)
            curve.append({"step": step, "wall_s": wall, **scores(checkpoint, f"grpo-seed{seed}-step{step}", run_dir)})
        results["grpo"][seed] = {"curve": curve, "final": curve[-1] | {"paired": paired(results["sft"], curve[-1])}}

    # Baseline: SFT alone for as long as SFT + GRPO took (mean over the seeds), on fresh problems. Its
    # run pays SFT's start-up once, then SFT's price per step (the trainer's own runtime per step).
    grpo_seconds = statistics.mean(results["seconds"][f"grpo-seed{s}"] for s in args.seeds)
    runtime = sft_runtime(sft_dir)
    per_step, startup = runtime / sft_steps, results["seconds"]["sft"] - runtime
    longer_steps = round((results["seconds"]["sft"] + grpo_seconds - startup) / per_step)
    longer_dir = out / f"sft-{longer_steps}steps"
    results["seconds"]["sft_same_time"] = train(
        [sys.executable, "train_sft.py", "--config", "configs/demo_sft.yaml", *shlex.split(args.sft_args),
         "--max_steps", str(longer_steps), "--arithmetic_size", str(longer_steps * 8)], longer_dir)
    results["sft_same_time"] = scores(longer_dir, f"sft-{longer_steps}steps", longer_dir)
    results["sft_same_time"] |= {"steps": longer_steps, "paired": paired(results["sft"], results["sft_same_time"])}

    results["grpo_gain"] = {}
    for name in BENCHMARKS:
        gains = [r["final"][name]["pass@1"] - results["sft"][name]["pass@1"] for r in results["grpo"].values()]
        results["grpo_gain"][name] = {"mean": statistics.mean(gains), "min": min(gains), "max": max(gains),
                                      "stdev": statistics.stdev(gains) if len(gains) > 1 else 0.0, "per_seed": gains}
    return results


def summary(results: dict) -> str:
    sft_steps = results["sft_same_time"]["steps"]
    named = [("base SmolLM2-135M-Instruct", results["base"], None), ("after cold-start SFT", results["sft"], None)]
    named += [(f"SFT + GRPO, seed {seed} ({r['final']['step']} steps)", r["final"], r["final"]["paired"])
              for seed, r in results["grpo"].items()]
    named.append((f"SFT only, same wall time ({sft_steps} steps)", results["sft_same_time"],
                  results["sft_same_time"]["paired"]))
    rows = ["| model | format rate | accuracy | accuracy, reworded | vs SFT: fixed / broken (reworded) |",
            "| --- | --- | --- | --- | --- |"]
    for name, r, change in named:
        a, b = r["arithmetic"], r["arithmetic_reworded"]
        same, other = (change or {}).get("arithmetic"), (change or {}).get("arithmetic_reworded")
        vs = f"{same['fixed']} / {same['broken']} ({other['fixed']} / {other['broken']})" if change else ""
        rows.append(f"| {name} | {a['format_rate']:.2f} | {a['pass@1']:.3f} | {b['pass@1']:.3f} | {vs} |")
    for name, gain in results["grpo_gain"].items():
        rows.append(f"GRPO gain over SFT on {name}: mean {gain['mean']:+.3f}, stdev {gain['stdev']:.3f}, range "
                    f"[{gain['min']:+.3f}, {gain['max']:+.3f}] over {len(gain['per_seed'])} seed(s)")
    rows.insert(len(named) + 2, "")
    rows.append("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items()))
    return "\n".join(rows)


def plot(results: dict, output: Path) -> Path:
    """Accuracy vs GRPO step and vs wall time (SFT included), per seed and wording, with the baselines."""
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    styles = {"arithmetic": ("-", "generator wording"), "arithmetic_reworded": (":", "reworded")}
    for color, (seed, r) in enumerate(results["grpo"].items()):
        for name, (line, label) in styles.items():
            steps = [p["step"] for p in r["curve"]]
            minutes = [p["wall_s"] / 60 for p in r["curve"]]
            accuracy = [p[name]["pass@1"] for p in r["curve"]]
            by_step.plot(steps, accuracy, line, marker="o", color=f"C{color}", label=f"GRPO seed {seed}, {label}")
            by_time.plot(minutes, accuracy, line, marker="o", color=f"C{color}")
    same_time = results["sft_same_time"]
    minutes = results["seconds"]["sft_same_time"] / 60
    for name, marker in (("arithmetic", "*"), ("arithmetic_reworded", "x")):
        by_time.plot([minutes], [same_time[name]["pass@1"]], marker=marker, markersize=10, color="k", linestyle="none",
                     label=f"SFT only, {same_time['steps']} steps, {styles[name][1]}")
    for ax, xlabel in ((by_step, "GRPO step (0 = the SFT model)"), (by_time, "wall time, SFT + GRPO (min)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out accuracy (greedy)")
        ax.grid(alpha=0.3)
    by_step.legend(fontsize=7)
    by_time.legend(fontsize=7)
    fig.suptitle("GRPO after the demo's cold start: solid = generator wording, dotted = reworded")
    return save(fig, output)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--eval_problems", type=int, default=100)
    parser.add_argument("--eval_every", type=int, default=5, help="GRPO steps between evaluated checkpoints")
    parser.add_argument("--engine", choices=["auto", "hf", "vllm"], default="auto",
                        help="generation engine for GRPO and evaluation; auto: the demo's choice")
    parser.add_argument("--sft_args", default="", help="extra train_sft.py arguments")
    parser.add_argument("--grpo_args", default="", help="extra train_grpo.py arguments")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "bench" / "learning")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "outputs" / "bench" / "learning.json")
    parser.add_argument("--png", type=Path, default=REPO_ROOT / "outputs" / "bench" / "learning.png")
    args = parser.parse_args()
    results = main(args)
    args.json.write_text(json.dumps(results, indent=2))
    print(summary(results))
    print(f"wrote {args.json} and {plot(results, args.png)}")
