"""Rejection sampling: sample k completions per problem from a trained model and keep the ones
the rewards pass, as SFT data for train_sft.py (`extra_train_files`).

    python scripts/rejection_sample.py --model outputs/qwen2.5-0.5b-r1-zero \\
        --dataset_name openai/gsm8k --num_samples 8 --output outputs/rejection_sampled.jsonl

A completion is kept when every reward in `accept_rewards` gives it at least `accept_threshold`
(default: accuracy and format both 1.0, i.e. correct and well-formed). `keep: shortest` keeps
only the shortest accepted completion per problem. Exact duplicates are dropped. Prints the
accept rate; writes {prompt, completion} rows in the chat format SFT trains on.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from data import DataArguments, load_rl_dataset
from helpers.config import ConfigError
from helpers.sampling import SamplingArguments, pass_checks, passes, run_command_line, sample


@dataclass(kw_only=True)
class RejectionArguments(SamplingArguments):
    """What to keep of the passing samples, and where."""

    output: str = field(default="outputs/rejection_sampled.jsonl")
    keep: str = field(default="all", metadata={"help": "all accepted completions, or the shortest per problem."})


def accepted_rows(prompts, solutions, samples, reward_funcs, threshold: float, keep: str) -> list[dict]:
    """{prompt, completion} rows for the samples every reward scores >= threshold."""
    rows = []
    for prompt, gold, group in zip(prompts, solutions, samples):
        texts = list(dict.fromkeys(s.text for s in group))  # exact duplicates once
        good = [t for t, ok in zip(texts, passes(prompt, gold, texts, reward_funcs, threshold)) if ok]
        if keep == "shortest" and good:
            good = [min(good, key=len)]
        rows += [{"prompt": prompt, "completion": [{"role": "assistant", "content": t}]} for t in good]
    return rows


def main(sampling: RejectionArguments, data_args: DataArguments, generator=None, check_only: bool = False) -> dict:
    if sampling.keep not in ("all", "shortest"):
        raise ConfigError(f"keep: unknown '{sampling.keep}'; allowed: ['all', 'shortest']")
    reward_funcs = pass_checks(sampling, data_args)
    dataset = load_rl_dataset(data_args)
    if check_only:
        print(f"check ok: rejection_sample.py, {len(dataset)} problems x {sampling.num_samples} samples")
        return {}
    samples = sample(sampling, dataset["prompt"], generator)
    rows = accepted_rows(dataset["prompt"], dataset["solution"], samples, reward_funcs,
                         sampling.accept_threshold, sampling.keep)
    output = Path(sampling.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    total = len(dataset) * sampling.num_samples
    stats = {"problems": len(dataset), "samples": total, "accepted": len(rows),
             "accept_rate": len(rows) / total if total else 0.0,
             "problems_with_an_accepted_sample": len({json.dumps(r["prompt"]) for r in rows})}
    print(json.dumps(stats))
    return stats


if __name__ == "__main__":
    run_command_line(RejectionArguments, main)
