"""Difficulty filter: keep the problems a checkpoint solves sometimes but not always, as GRPO data.

    python scripts/difficulty_filter.py --model outputs/demo/sft --grpo_config configs/demo_r1.yaml \\
        --arithmetic_size 400 --output outputs/filtered/arithmetic.jsonl
    python train_grpo.py --config configs/demo_r1.yaml --dataset_name outputs/filtered/arithmetic.jsonl \\
        --dataset_format gsm8k

`--grpo_config` samples what that GRPO run would: its data and prompt keys, temperature,
num_generations (k) and max_completion_length (keys given on the command line win); without it,
give them as `--dataset_name`, `--num_samples`, `--temperature`, `--max_new_tokens` and so on.

GRPO learns only from groups whose completions disagree: on a problem the model always solves, or
never does, every completion gets the same reward and no gradient. So sample `num_samples`
completions per problem at the training temperature, count those that pass (every reward in
`accept_rewards` at least `accept_threshold`, as in scripts/rejection_sample.py, whose sampling
and scoring this shares), and keep the problems whose pass rate lies in [min_pass_rate,
max_pass_rate] (the "intermediate pass rate" curriculum of DeepSeek-R1 and Polaris). Filter again
as the model improves.

Reads any data source the training configs accept (dataset_name / dataset_format / split /
arithmetic_*); writes the kept rows in their source's own schema plus a `pass_rate` column, so
train_grpo.py reads the file with the source's dataset_format (`min_kept`: a floor below which every
candidate is written instead, so that a run still has a step's prompts); beside it `<output>.json` (counts,
the pass-rate histogram) and `<output>.png` (the histogram). Prints the histogram and the keys to
train on the file.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from data import DataArguments, load_prompt_template, load_rl_source, to_rl_dataset
from helpers.config import ConfigError
from helpers.plots import save
from helpers.sampling import SamplingArguments, pass_checks, passes, run_command_line, sample


@dataclass(kw_only=True)
class FilterArguments(SamplingArguments):
    """Which pass rates to keep, and where (the sampling keys: SamplingArguments, at the training temperature)."""

    temperature: float = 1.0
    min_pass_rate: float = field(default=0.1, metadata={"help": "Keep problems passed at least this often ..."})
    max_pass_rate: float = field(default=0.9, metadata={"help": "... and at most this often (0.1-0.9 with k=8: "
                                                                "1 to 7 of the 8 samples)."})
    min_kept: int | None = field(default=None, metadata={
        "help": "If set: when fewer problems than this have pass rates in range (a GRPO run needs one "
                "generation round of them, generation_batch_size / num_generations), write every candidate "
                "instead, with a warning, so that the run reading the file still trains. Unset: keeping none is "
                "an error."})
    output: str = field(default="outputs/filtered.jsonl")

    def __post_init__(self):
        super().__post_init__()
        if self.num_samples < 2:
            raise ConfigError(f"num_samples: {self.num_samples} is out of range; allowed: >= 2 (a pass rate "
                              "needs several samples)")
        if self.temperature <= 0:
            raise ConfigError(f"temperature: {self.temperature} is out of range; allowed: > 0 (greedy samples "
                              "all agree)")
        if Path(self.output).suffix != ".jsonl":
            raise ConfigError(f"output: '{self.output}' must end in .jsonl (the histogram goes beside it as .json "
                              "and .png)")
        if self.min_kept is not None and self.min_kept < 1:
            raise ConfigError(f"min_kept: {self.min_kept} is out of range; allowed: >= 1, or unset")
        if not 0.0 <= self.min_pass_rate <= self.max_pass_rate <= 1.0:
            raise ConfigError(f"min_pass_rate, max_pass_rate: {self.min_pass_rate}, {self.max_pass_rate}; allowed: "
                              "0.0 <= min_pass_rate <= max_pass_rate <= 1.0")


def pass_rates(prompts, solutions, samples, reward_funcs, threshold: float) -> list[float]:
    """Per problem: the share of its samples that pass (duplicates count: this is a rate, not a set)."""
    return [sum(ok) / len(ok) for ok in (passes(p, g, [s.text for s in group], reward_funcs, threshold)
                                         for p, g, group in zip(prompts, solutions, samples))]


def histogram(rates: list[float], k: int) -> dict[str, int]:
    """Problems per number of passing samples, 0..k (as "passed/k")."""
    counts = Counter(round(r * k) for r in rates)
    return {f"{i}/{k}": counts.get(i, 0) for i in range(k + 1)}


def plot_histogram(bins: dict[str, int], kept_range: tuple[float, float], k: int, output: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    kept = [kept_range[0] <= i / k <= kept_range[1] for i in range(k + 1)]
    ax.bar(list(bins), list(bins.values()), color=["C0" if keep else "0.7" for keep in kept])
    ax.set_xlabel("samples passed (kept: blue)")
    ax.set_ylabel("problems")
    ax.set_title(f"pass rates over {k} samples")
    return save(fig, output)


def main(args: FilterArguments, data_args: DataArguments, generator=None, check_only: bool = False) -> dict:
    reward_funcs = pass_checks(args, data_args)
    template = load_prompt_template(data_args.prompt_template, data_args.prompt_templates_file, for_training=True)
    raw, dataset_format = load_rl_source(data_args)
    problems = to_rl_dataset(raw, dataset_format, template, source=data_args.dataset_name, keep_source_row=True)
    if check_only:
        print(f"check ok: difficulty_filter.py, {len(problems)} problems x {args.num_samples} samples")
        return {}
    samples = sample(args, problems["prompt"], generator)
    rates = pass_rates(problems["prompt"], problems["solution"], samples, reward_funcs, args.accept_threshold)
    scored = list(zip(problems["source_row"], rates))
    kept = [(row, rate) for row, rate in scored if args.min_pass_rate <= rate <= args.max_pass_rate]
    in_range, every_candidate = len(kept), args.min_kept is not None and len(kept) < args.min_kept
    if every_candidate:
        kept = scored
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w") as f:
        for row, rate in kept:
            f.write(json.dumps(raw[row] | {"pass_rate": rate}, ensure_ascii=False) + "\n")
    bins = histogram(rates, args.num_samples)
    stats = {"problems": len(problems), "kept": len(kept), "in_range": in_range, "every_candidate": every_candidate,
             "pass_rate_range": [args.min_pass_rate, args.max_pass_rate],
             "mean_pass_rate": sum(rates) / len(rates) if rates else 0.0, "histogram": bins,
             "dataset_format": dataset_format, "source": data_args.dataset_name, "model": args.model}
    output.with_suffix(".json").write_text(json.dumps(stats, indent=2))
    plot_histogram(bins, (args.min_pass_rate, args.max_pass_rate), args.num_samples, output.with_suffix(".png"))
    width = max(bins.values(), default=0) or 1
    for label, count in bins.items():
        print(f"{label:>6} {'#' * round(30 * count / width):<30} {count}")
    if not kept:
        raise SystemExit(f"kept none of {len(problems)} problems: no pass rate in {args.min_pass_rate}-"
                         f"{args.max_pass_rate} (histogram above); widen the range, or change the model or data")
    if every_candidate:
        print(f"WARNING: only {in_range} of {len(problems)} problems have a pass rate in {args.min_pass_rate}-"
              f"{args.max_pass_rate}, fewer than min_kept ({args.min_kept}): wrote all {len(problems)} candidates "
              "instead (GRPO on them gets fewer groups with signal)")
    print(f"kept {len(kept)} of {len(problems)} problems (pass rate {args.min_pass_rate}-{args.max_pass_rate}); "
          f"train on them with: --dataset_name {output} --dataset_format {dataset_format}")
    return stats


if __name__ == "__main__":
    run_command_line(FilterArguments, main)
