"""Does RL make the model better than more SFT would? The R1 recipe on CPU, over seeds, with baselines.

    python scripts/bench_learning.py                  # the study (docs/learning.md; ~2 h 50 min on 2 AVX512-BF16 cores)
    python scripts/bench_learning.py --grpo_args "--max_steps 100" --eval_every 20     # a longer budget
    python scripts/bench_learning.py --seeds 1 --unfiltered_seeds --sft_steps 2 4 --eval_problems 20 \\
        --grpo_args "--max_steps 2" --eval_every 1 --filter_args "--min_pass_rate 0 --max_pass_rate 1" \\
        --eval_max_new_tokens 24    # a smoke run: it checks the plumbing, its scores mean nothing

1. Cold start (configs/demo_sft.yaml, constant learning rate) trained for the longest of `sft_steps`, a
   checkpoint at each: the SFT curve. RL starts where it stops rising: the first point that no later
   point beats by `converged_gain` in either wording (or `--start_step`); if none does before the
   curve's end, from its last point, and the table says the cold start did not converge.
2. The difficulty filter (scripts/difficulty_filter.py) on that checkpoint: `filter_problems` of GRPO's
   candidate problems (configs/demo_r1.yaml's data), sampled as GRPO samples them (its temperature,
   num_generations and max_completion_length); the problems solved sometimes but not always are kept.
3. GRPO (configs/demo_r1.yaml) from the start on the kept problems, once per seed, a checkpoint every
   `eval_every` steps; and on the unfiltered problems once per `unfiltered_seeds`.
4. Baselines: the start itself, and SFT continued from it for as long as filter + GRPO took (mean over
   the seeds), on fresh problems of the train split, once per `sft_seeds` (the data's and the trainer's
   seed: which problems, in which order, which moved held-out accuracy by up to 14 points); GRPO is
   compared with their mean.
5. The filter again on the first seed's final model, over the same candidates: the pass rates after.

Every model is evaluated greedily on held-out problems (the test split, never trained on) in two
wordings, the generator's (`arithmetic`) and other words (`arithmetic_reworded`), under the system
prompt the configs train with: the curves' checkpoints on `eval_problems` (100), the table's models
(the start, each run's final model, the SFT continuation) on `final_eval_problems` (500: on 100 a
5-point gain is one standard error). Prints the tables, the gains with their standard error from the
problems drawn, the targets of issue 27, and the training signals (groups without signal, entropy,
clipped ratios); writes outputs/bench/learning.json and the curves outputs/bench/learning.png.
"""

import argparse
import hashlib
import json
import math
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
from helpers.sampling import grpo_filter_args

REPO_ROOT = Path(__file__).resolve().parent.parent

BASE_MODEL = "checkpoints/SmolLM2-135M-Instruct"
BENCHMARKS = ("arithmetic", "arithmetic_reworded")
SFT_CONFIG, GRPO_CONFIG = "configs/demo_sft.yaml", "configs/demo_r1.yaml"
# Evaluated under the system prompt the demo trains with (both demo configs name the same one).
TEMPLATE = yaml.safe_load((REPO_ROOT / GRPO_CONFIG).read_text())["prompt_template"]
# An SFT continuation on the cold start's data seed would repeat its traces; other seeds draw mostly other
# problems of the same finite train split.
COLD_START_SEED = yaml.safe_load((REPO_ROOT / SFT_CONFIG).read_text())["arithmetic_seed"]
TARGETS = {"vs_start": 0.08, "vs_sft_same_time": 0.05, "every_seed_vs_start": 0.04, "fixed_per_broken": 3.0}


# What every stage's result depends on besides its command line; each stage also reads the script it runs
# and the config it names (stage_inputs).
COMMON_INPUTS = ["data.py", "rewards.py", "configs/prompts.yaml",
                 *sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "helpers").glob("*.py"))]


def stage_inputs(command: list[str]) -> list[str]:
    """The files a stage reads: the script it runs, the `--config` file it names, and COMMON_INPUTS (so an
    edit to the filter redoes the filter and what follows it, not the SFT curve before it)."""
    named = [command[1]] if (REPO_ROOT / command[1]).is_file() else []
    if "--config" in command:
        named.append(command[command.index("--config") + 1])
    return named + COMMON_INPUTS


def inputs_digest(command: list[str]) -> str:
    return hashlib.sha1(b"".join(path.encode() + (REPO_ROOT / path).read_bytes()
                                 for path in stage_inputs(command))).hexdigest()[:16]


def run(command: list[str]) -> None:
    print("$ " + shlex.join(command), flush=True)
    subprocess.run(command, cwd=REPO_ROOT, check=True)


def cached(key: dict, record: Path) -> bool:
    """Whether `record` holds the result of exactly this stage: the same command, run on the same
    upstream results (a rerun with other arguments, or after an upstream stage was redone, redoes it)."""
    return record.exists() and json.loads(record.read_text())["key"] == key


def run_stage(command: list[str], record: Path, after: Path | None = None, clear: Path | None = None,
              also: dict | None = None) -> dict:
    """Run a stage once: its record (key and wall seconds), reused while the command, the files it reads
    (stage_inputs), the record `after` of the stage it reads and `also` (what else its result depends on)
    are unchanged; `clear`: a folder emptied before a rerun."""
    key = {"command": command, "inputs": inputs_digest(command),
           "after": json.loads(after.read_text()) if after is not None else None} | ({"also": also} if also else {})
    if not cached(key, record):
        if clear is not None:
            shutil.rmtree(clear, ignore_errors=True)  # no checkpoint of an earlier run may join the curve
        start = time.monotonic()
        run(command)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"key": key, "seconds": round(time.monotonic() - start, 1)}))
    return json.loads(record.read_text())


def record_of(output: Path) -> Path:
    """Where the record of the stage that wrote `output` (an evaluation, a filter) lives: beside it."""
    return output.with_suffix(".record.json")


def train(command: list[str], output_dir: Path, after: Path | None = None, also: dict | None = None) -> float:
    """Run a training command (reading the output of the stage recorded in `after`) and return its wall
    time; a rerun of the same stage reuses the finished run, any other starts from an empty folder."""
    command = command + ["--output_dir", str(output_dir)]
    return run_stage(command, output_dir / "bench_run.json", after, clear=output_dir, also=also)["seconds"]


def evaluate(model: Path | str, output: Path, problems: int, backend: str, max_new_tokens: int,
             after: Path | None = None) -> dict:
    """Greedy scores per benchmark, with the per-problem verdicts for paired comparisons (`after`: the
    record of the run that made the model). The first `problems` of the test split: the same problems
    for every model, and the first 100 of 500 are the 100 (the generator draws them in order)."""
    # scripts/evaluate.py generates 200 arithmetic problems unless told more; smaller evaluations keep
    # the command they had, so their records stay valid.
    size = ["--arithmetic_size", str(problems)] if problems > 200 else []
    run_stage([sys.executable, "scripts/evaluate.py", "--model", str(model), "--benchmarks", *BENCHMARKS, "--limit",
               str(problems), *size, "--k", "1", "--max_new_tokens", str(max_new_tokens), "--lenient", "false",
               "--backend", backend, "--prompt_template", TEMPLATE, "--output", str(output)], record_of(output), after)
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


def training_signals(run_dir: Path) -> dict:
    """What GRPO had to learn from, per its logs: the share of groups whose completions all scored the same
    (no gradient), the policy's entropy over the first and last 3 steps, the share of tokens whose ratio was
    clipped, the share of completions cut at max_completion_length, and the reward at both ends."""
    logs = [e for e in log_history(run_dir) if "frac_reward_zero_std" in e]

    def mean(key: str, part: slice = slice(None)) -> float:
        values = [e[key] for e in logs[part] if key in e]
        return statistics.mean(values) if values else math.nan

    return {"groups_without_signal": mean("frac_reward_zero_std"), "entropy_first": mean("entropy", slice(3)),
            "entropy_last": mean("entropy", slice(-3, None)), "clip_ratio": mean("clip_ratio/region_mean"),
            "completions_clipped": mean("completions/clipped_ratio"), "reward_first": mean("reward", slice(3)),
            "reward_last": mean("reward", slice(-3, None))}


def converged_start(curve: list[dict], min_gain: float) -> tuple[int, bool]:
    """The first SFT step that no later point of the curve beats by `min_gain` or more in either wording
    (doubling the steps, or more, adds less), and whether there is one before the curve's end; if not,
    the last point, not converged. Stricter than "the next doubling adds less", which one noisy point fools."""
    for i, point in enumerate(curve[:-1]):
        # Rounded: accuracies are multiples of 1/problems, and 0.36 - 0.34 is 0.01999... in floating point.
        if all(round(later[n]["pass@1"] - point[n]["pass@1"], 9) < min_gain for later in curve[i + 1:]
               for n in BENCHMARKS):
            return point["step"], True
    return curve[-1]["step"], False


def mean_scores(models: list[dict]) -> dict:
    """Per benchmark: the models' mean accuracy and, per problem, the share of them that got it right."""
    return {name: {"pass@1": statistics.mean(m[name]["pass@1"] for m in models),
                   "correct": [statistics.mean(map(float, verdicts)) for verdicts in zip(*(m[name]["correct"]
                                                                                         for m in models))]}
            for name in BENCHMARKS}


def gains(finals: list[dict], against: dict) -> dict:
    """Per benchmark: accuracy of each final model minus `against`'s, with mean, range and stdev over the
    seeds, and `se_problems`: the standard error of the mean gain from the problems drawn (per problem, the
    seeds' mean verdict minus `against`'s; its stdev / sqrt(problems)): a gain within 2 of it could be
    the draw of problems, even if every seed agrees."""
    out, pooled = {}, mean_scores(finals)
    for name in BENCHMARKS:
        if any(len(f[name]["correct"]) != len(against[name]["correct"]) for f in finals):
            raise ValueError(f"{name}: the models were scored on different numbers of problems")
        per_seed = [round(f[name]["pass@1"] - against[name]["pass@1"], 9) for f in finals]  # see converged_start
        per_problem = [share - float(base) for share, base in zip(pooled[name]["correct"], against[name]["correct"])]
        out[name] = {"mean": statistics.mean(per_seed), "min": min(per_seed), "max": max(per_seed),
                     "stdev": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0, "per_seed": per_seed,
                     "se_problems": statistics.stdev(per_problem) / math.sqrt(len(per_problem))
                     if len(per_problem) > 1 else math.nan}
    return out


def main(args) -> dict:
    if COLD_START_SEED in args.sft_seeds:
        raise SystemExit(f"--sft_seeds: {COLD_START_SEED} is the cold start's data seed ({SFT_CONFIG}): a "
                         "continuation on it would repeat the cold start's traces; allowed: any other seed")
    out = args.out
    (out / "eval").mkdir(parents=True, exist_ok=True)
    engine = args.engine if args.engine != "auto" else "vllm" if vllm_is_faster_here() else "hf"  # as the demo
    sft_args, grpo_args, filter_args = (shlex.split(a) for a in (args.sft_args, args.grpo_args, args.filter_args))
    points = sorted(set(args.sft_steps))
    if args.start_step is not None and args.start_step not in points:
        raise SystemExit(f"--start_step {args.start_step}: not one of --sft_steps {points}")
    results = {"settings": {k: str(v) for k, v in vars(args).items()} | {"engine": engine}, "seconds": {},
               "problems": {"curves": args.eval_problems, "table": max(args.final_eval_problems, args.eval_problems)}}

    def scores(model, name, record=None, problems=args.eval_problems):
        return evaluate(model, out / "eval" / f"{name}.json", problems, engine, args.eval_max_new_tokens, record)

    def final_scores(model, name, record, curve_point=None):
        """The table's models (the start, each run's final model, the SFT continuation) on
        `final_eval_problems` where that is more than the curves' `eval_problems` (100 problems cannot
        resolve 5 points); else the curve's point, if there is one."""
        if args.final_eval_problems <= args.eval_problems:
            return curve_point or scores(model, name, record)
        return scores(model, f"{name}-final{args.final_eval_problems}", record, args.final_eval_problems)

    def difficulty_filter(model: Path, output: Path, after: Path, extra: list[str]) -> dict:
        command = [sys.executable, "scripts/difficulty_filter.py", "--model", str(model),
                   *grpo_filter_args(str(REPO_ROOT / GRPO_CONFIG), grpo_args), "--arithmetic_size",
                   str(args.filter_problems), "--backend", engine, *extra, "--output", str(output)]
        seconds = run_stage(command, record_of(output), after)["seconds"]
        rates = {row["question"]: row["pass_rate"] for row in map(json.loads, output.read_text().splitlines())}
        return json.loads(output.with_suffix(".json").read_text()) | {"seconds": seconds, "pass_rates": rates}

    results["base"] = scores(BASE_MODEL, "base")

    # 1. The SFT curve: one run at a constant learning rate, so its checkpoint at step s is an s-step run.
    sft_dir, sft_record = out / "sft", out / "sft" / "bench_run.json"
    sft_batch = yaml.safe_load((REPO_ROOT / SFT_CONFIG).read_text())["per_device_train_batch_size"]
    results["seconds"]["sft"] = train(
        [sys.executable, "train_sft.py", "--config", SFT_CONFIG, *sft_args, "--max_steps", str(points[-1]),
         "--arithmetic_size", str(points[-1] * sft_batch), "--lr_scheduler_type", "constant", "--save_strategy",
         "steps", "--save_steps", str(math.gcd(*points)), "--save_only_model", "true"], sft_dir,
        also={"checkpoints_kept": points})
    for checkpoint in sft_dir.glob("checkpoint-*"):
        if int(checkpoint.name.split("-")[1]) not in points:
            shutil.rmtree(checkpoint)
    results["sft_curve"] = [{"step": s, **scores(sft_dir / f"checkpoint-{s}", f"sft-step{s}", sft_record)}
                            for s in points]
    start_step, converged = (args.start_step, None) if args.start_step else converged_start(
        results["sft_curve"], args.converged_gain)
    start_model = sft_dir / f"checkpoint-{start_step}"
    start_point = next(p for p in results["sft_curve"] if p["step"] == start_step)
    start = final_scores(start_model, f"sft-step{start_step}", sft_record, start_point)
    results["start"] = {"step": start_step, "converged": converged, **start}

    # 2. The difficulty filter on the start, over GRPO's candidate problems.
    kept_file = out / "filtered.jsonl"
    results["filter_before"] = difficulty_filter(start_model, kept_file, sft_record, filter_args)
    filter_record = record_of(kept_file)
    results["seconds"]["filter"] = results["filter_before"]["seconds"]

    # 3. GRPO from the start, on the kept problems and on all of them.
    def grpo(name: str, seed: int, data: list[str], after: Path, offset: float) -> dict:
        run_dir = out / name
        seconds = train([sys.executable, "train_grpo.py", "--config", GRPO_CONFIG, "--model_name_or_path",
                         str(start_model), "--seed", str(seed), *data, *demo_grpo_engine_args(engine), *grpo_args,
                         "--save_strategy", "steps", "--save_steps", str(args.eval_every), "--save_only_model", "true"],
                        run_dir, after=after)
        results["seconds"][name] = seconds
        step_times = grpo_seconds_per_step(run_dir)
        # Wall time after the start: the filter's (if used), then GRPO's with engine and model start-up
        # spread evenly over its steps, so that the last point's time is what the whole run took.
        curve = [{**start_point, "step": 0, "wall_s": 0.0}]  # the start is step 0 of GRPO (its own: SFT steps)
        for checkpoint in sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
            step = int(checkpoint.name.split("-")[1])
            wall = offset + seconds * sum(step_times[:step]) / sum(step_times)
            checkpoint_scores = scores(checkpoint, f"{name}-step{step}", run_dir / "bench_run.json")
            curve.append({"step": step, "wall_s": wall, **checkpoint_scores})
        final = final_scores(run_dir, name, run_dir / "bench_run.json", curve[-1]) | {"step": curve[-1]["step"]}
        return {"curve": curve, "final": final | {"paired": paired(start, final)},
                "signals": training_signals(run_dir), "run_dir": str(run_dir)}

    filtered = ["--dataset_name", str(kept_file), "--dataset_format", results["filter_before"]["dataset_format"]]
    filter_seconds = results["seconds"]["filter"]
    results["grpo"] = {seed: grpo(f"grpo-filtered-seed{seed}", seed, filtered, filter_record, filter_seconds)
                       for seed in args.seeds}
    results["grpo_unfiltered"] = {seed: grpo(f"grpo-unfiltered-seed{seed}", seed, [], sft_record, 0.0)
                                  for seed in args.unfiltered_seeds}

    # 4. SFT continued from the start for as long as filter + GRPO took, on fresh problems: SFT's start-up
    # (as in the curve's run), then training until the rest is spent (max_train_seconds), which ends at a
    # step end. max_steps only sizes the data: five times the steps the curve's price per step (saves
    # included, so an overestimate) says fit.
    rl_seconds = results["seconds"]["filter"] + statistics.mean(results["seconds"][f"grpo-filtered-seed{s}"]
                                                                for s in args.seeds)
    runtime = sft_runtime(sft_dir)
    startup = results["seconds"]["sft"] - runtime
    budget = max(1.0, math.ceil((rl_seconds - startup) * 10) / 10)
    max_steps = 5 * math.ceil(budget / (runtime / points[-1])) + 1

    def sft_continued(seed: int) -> dict:
        continued = out / f"sft-continued-seed{seed}"
        results["seconds"][continued.name] = train(
            [sys.executable, "train_sft.py", "--config", SFT_CONFIG, *sft_args, "--model_name_or_path",
             str(start_model), "--max_steps", str(max_steps), "--max_train_seconds", str(budget), "--seed", str(seed),
             "--arithmetic_seed", str(seed), "--arithmetic_size", str(max_steps * sft_batch), "--lr_scheduler_type",
             "constant", "--save_strategy", "no"], continued, after=sft_record)
        scored = final_scores(continued, continued.name, continued / "bench_run.json")
        steps = next(e["step"] for e in log_history(continued) if "train_runtime" in e)
        if steps >= max_steps:
            print(f"warning: {continued.name} ran out of data at {steps} steps, {sft_runtime(continued):.0f} of its "
                  f"{budget:.0f} s: a shorter baseline than RL's time", file=sys.stderr)
        return scored | {"steps": steps, "max_steps": max_steps, "wall_s": results["seconds"][continued.name],
                         "target_s": rl_seconds, "paired": paired(start, scored)}

    results["sft_same_time"] = {seed: sft_continued(seed) for seed in args.sft_seeds}
    results["sft_same_time_mean"] = mean_scores(list(results["sft_same_time"].values()))  # gains() compares with it

    # 5. The pass rates after GRPO (first seed), over the same candidates, every problem kept.
    first = out / f"grpo-filtered-seed{args.seeds[0]}"
    results["filter_after"] = difficulty_filter(first, out / "filter_after.jsonl", first / "bench_run.json",
                                                filter_args + ["--min_pass_rate", "0", "--max_pass_rate", "1"])
    kept = results["filter_before"]["pass_rates"]
    after_rates = results["filter_after"]["pass_rates"]
    results["kept_pass_rate"] = {"before": statistics.mean(kept.values()),
                                 "after": statistics.mean(after_rates[q] for q in kept)}

    finals = [r["final"] for r in results["grpo"].values()]
    results["grpo_gain"] = gains(finals, start)
    results["grpo_gain_vs_sft_same_time"] = gains(finals, results["sft_same_time_mean"])
    results["targets"] = targets(results)
    return results


def targets(results: dict) -> dict:
    """Issue 27's bar, per wording: GRPO's mean gain over its start and over the SFT continuation, every
    seed's gain over its start, and problems fixed per problem broken (all seeds together)."""
    out = {}
    for name in BENCHMARKS:
        over_start, over_sft = results["grpo_gain"][name], results["grpo_gain_vs_sft_same_time"][name]
        fixed = sum(r["final"]["paired"][name]["fixed"] for r in results["grpo"].values())
        broken = sum(r["final"]["paired"][name]["broken"] for r in results["grpo"].values())
        out[name] = {"vs_start": over_start["mean"] >= TARGETS["vs_start"],
                     "vs_sft_same_time": over_sft["mean"] >= TARGETS["vs_sft_same_time"],
                     "every_seed_vs_start": over_start["min"] >= TARGETS["every_seed_vs_start"],
                     "fixed_per_broken": fixed > 0 and fixed >= TARGETS["fixed_per_broken"] * broken,
                     "fixed": fixed, "broken": broken}
    return out


def summary(results: dict) -> str:
    start = results["start"]
    converged = {True: "converged", False: "NOT converged: the curve still rises", None: "chosen"}[start["converged"]]
    curve_rows = [("base SmolLM2-135M-Instruct", results["base"], None)]
    curve_rows += [(f"cold-start SFT, {p['step']} steps" + (f" (the start: {converged})" if p["step"] == start["step"]
                                                               else ""), p, None) for p in results["sft_curve"]]
    compared = [(f"the start (SFT, {start['step']} steps)", start, None)]
    compared += [(f"start + GRPO on filtered problems, seed {seed} ({r['final']['step']} steps)", r["final"],
                  r["final"]["paired"]) for seed, r in results["grpo"].items()]
    compared += [(f"start + GRPO, unfiltered, seed {seed} ({r['final']['step']} steps)", r["final"],
                  r["final"]["paired"]) for seed, r in results["grpo_unfiltered"].items()]
    compared += [(f"start + SFT for the same wall time, seed {seed} ({r['steps']} steps)", r, r["paired"])
                 for seed, r in results["sft_same_time"].items()]
    rows = []
    for title, named in ((f"the SFT curve, on {results['problems']['curves']} held-out problems", curve_rows),
                         (f"the comparison, on {results['problems']['table']} held-out problems", compared)):
        rows += [title, "", "| model | format rate | accuracy | accuracy, reworded | vs start: fixed / broken "
                 "(reworded) |", "| --- | --- | --- | --- | --- |"]
        for name, r, change in named:
            a, b = r["arithmetic"], r["arithmetic_reworded"]
            same, other = (change or {}).get("arithmetic"), (change or {}).get("arithmetic_reworded")
            vs = f"{same['fixed']} / {same['broken']} ({other['fixed']} / {other['broken']})" if change else ""
            rows.append(f"| {name} | {a['format_rate']:.2f} | {a['pass@1']:.3f} | {b['pass@1']:.3f} | {vs} |")
        rows.append("")
    continuations = len(results["sft_same_time"])
    for label, key in (("its start", "grpo_gain"),
                       (f"SFT for the same time (mean of {continuations})", "grpo_gain_vs_sft_same_time")):
        for name, gain in results[key].items():
            rows.append(f"filtered GRPO vs {label} on {name}: mean {gain['mean']:+.3f} (standard error from the "
                        f"problems drawn {gain['se_problems']:.3f}), stdev {gain['stdev']:.3f}, range "
                        f"[{gain['min']:+.3f}, {gain['max']:+.3f}] over {len(gain['per_seed'])} seed(s)")
    labels = {"vs_start": f"mean gain over the start >= {TARGETS['vs_start']:+.2f}",
              "vs_sft_same_time": f"over SFT for the same time >= {TARGETS['vs_sft_same_time']:+.2f}",
              "every_seed_vs_start": f"every seed over the start >= {TARGETS['every_seed_vs_start']:+.2f}",
              "fixed_per_broken": f"fixed >= {TARGETS['fixed_per_broken']:.0f}x broken"}
    for name, met in results["targets"].items():
        rows.append(f"targets on {name}: " + ", ".join(f"{label} {'met' if met[key] else 'NOT met'}"
                                                      for key, label in labels.items())
                    + f" (fixed {met['fixed']}, broken {met['broken']})")
    before, after = results["filter_before"], results["filter_after"]
    rows.append(f"difficulty filter: kept {before['kept']} of {before['problems']} problems; pass rates before "
                f"{before['histogram']}, after GRPO (seed {next(iter(results['grpo']))}) {after['histogram']}; "
                f"mean pass rate of the kept problems {results['kept_pass_rate']['before']:.2f} -> "
                f"{results['kept_pass_rate']['after']:.2f}")
    for label, runs in (("filtered", results["grpo"]), ("unfiltered", results["grpo_unfiltered"])):
        for seed, r in runs.items():
            s = r["signals"]
            rows.append(f"GRPO {label}, seed {seed}: groups without signal {s['groups_without_signal']:.2f}, entropy "
                        f"{s['entropy_first']:.2f} -> {s['entropy_last']:.2f}, clipped tokens {s['clip_ratio']:.3f}, "
                        f"completions cut {s['completions_clipped']:.2f}, reward {s['reward_first']:.2f} -> "
                        f"{s['reward_last']:.2f}")
    for seed, r in results["sft_same_time"].items():
        rows.append(f"SFT for the same time, seed {seed}: {r['steps']} steps in {r['wall_s']:.0f} s (filter + GRPO "
                    f"took {r['target_s']:.0f} s, mean over the GRPO seeds)")
    rows.append("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items()))
    return "\n".join(rows)


def plot(results: dict, output: Path) -> Path:
    """Held-out accuracy vs SFT step (the cold start) and vs GRPO step, on the curves' problems; and the
    comparison's models on the table's problems vs wall time after the start: each run from the start
    to its final model, and the SFT continuation; per seed and wording."""
    fig, (by_sft, by_step, by_time) = plt.subplots(1, 3, figsize=(15, 4.2))
    styles = {"arithmetic": ("-", "*", "generator wording"), "arithmetic_reworded": (":", "x", "reworded")}
    for name, (line, _, label) in styles.items():
        curve = results["sft_curve"]
        by_sft.plot([p["step"] for p in curve], [p[name]["pass@1"] for p in curve], line, marker="o", color="k",
                    label=label)
    by_sft.axvline(results["start"]["step"], color="C3", alpha=0.5, label="RL starts here")
    by_sft.set_xscale("log", base=2)
    runs = [("filtered", seed, r, f"C{i}") for i, (seed, r) in enumerate(results["grpo"].items())]
    runs += [("unfiltered", seed, r, str(0.35 + 0.15 * i))  # greys
             for i, (seed, r) in enumerate(results["grpo_unfiltered"].items())]
    for kind, seed, r, color in runs:
        for name, (line, _, label) in styles.items():
            accuracy = [p[name]["pass@1"] for p in r["curve"]]
            by_step.plot([p["step"] for p in r["curve"]], accuracy, line, marker="o", color=color,
                         label=f"GRPO {kind}, seed {seed}, {label}")
            ends = [results["start"][name]["pass@1"], r["final"][name]["pass@1"]]
            by_time.plot([0, r["curve"][-1]["wall_s"] / 60], ends, line, marker="o", color=color)
    same_time = list(results["sft_same_time"].values())
    for name, (_, marker, label) in styles.items():
        by_time.plot([r["wall_s"] / 60 for r in same_time], [r[name]["pass@1"] for r in same_time], marker=marker,
                     markersize=10, color="k", linestyle="none",
                     label=f"SFT for the same time ({len(same_time)} seeds), {label}")
    problems = results["problems"]
    for ax, xlabel, count in ((by_sft, "cold-start SFT steps", problems["curves"]),
                              (by_step, "GRPO step (0 = the start)", problems["curves"]),
                              (by_time, "wall time after the start, filter included (min)", problems["table"])):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"held-out accuracy, {count} problems (greedy)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("The R1 recipe on CPU: the cold-start SFT curve, then GRPO from its start on filtered problems "
                 "(solid = generator wording, dotted = reworded)")
    return save(fig, output)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft_steps", type=int, nargs="+", default=[128, 256, 512],
                        help="the SFT curve's points (the run trains to the last)")
    parser.add_argument("--converged_gain", type=float, default=0.02,
                        help="the start: the first point no later point beats by this much, in either wording")
    parser.add_argument("--start_step", type=int, help="start RL from this SFT step instead")
    parser.add_argument("--filter_problems", type=int, default=200, help="GRPO's candidate problems filtered")
    parser.add_argument("--filter_args", default="", help="extra difficulty_filter.py arguments")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="GRPO runs on filtered problems")
    parser.add_argument("--unfiltered_seeds", type=int, nargs="*", default=[1], help="GRPO runs on all problems")
    parser.add_argument("--sft_seeds", type=int, nargs="+", default=[2, 3, 4],
                        help=f"SFT continuations for the same time, one per data seed (not {COLD_START_SEED}, the "
                             "cold start's)")
    parser.add_argument("--eval_problems", type=int, default=100, help="held-out problems per curve point")
    parser.add_argument("--final_eval_problems", type=int, default=500,
                        help="held-out problems for the table (the start, the final models, the SFT continuation) "
                             "and its gains and targets")
    parser.add_argument("--eval_max_new_tokens", type=int, default=96,
                        help="each evaluated answer's token budget (the demo's; fewer only for a quick smoke run)")
    parser.add_argument("--eval_every", type=int, default=10, help="GRPO steps between evaluated checkpoints")
    parser.add_argument("--engine", choices=["auto", "hf", "vllm"], default="auto",
                        help="generation engine for GRPO, the filter and evaluation; auto: the demo's choice")
    parser.add_argument("--sft_args", default="", help="extra train_sft.py arguments (not the step count)")
    parser.add_argument("--grpo_args", default="--max_steps 30",
                        help="extra train_grpo.py arguments (`--key value`)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "bench" / "learning")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "outputs" / "bench" / "learning.json")
    parser.add_argument("--png", type=Path, default=REPO_ROOT / "outputs" / "bench" / "learning.png")
    args = parser.parse_args()
    results = main(args)
    args.json.write_text(json.dumps(results, indent=2))
    print(summary(results))
    print(f"wrote {args.json} and {plot(results, args.png)}")
