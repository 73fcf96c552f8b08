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
import logging
from dataclasses import dataclass, field
from pathlib import Path

from data import DataArguments, load_prompt_template, load_rl_dataset
from helpers.config import ConfigError, RunArguments, parse_config
from helpers.generation import make_generator
from rewards import VerifyArguments, configure_verification, get_reward_funcs


@dataclass(kw_only=True)
class SamplingArguments(VerifyArguments):
    """How to sample and what to keep (the data and prompt template: DataArguments)."""

    model: str = field(metadata={"help": "The checkpoint to sample from."})
    output: str = field(default="outputs/rejection_sampled.jsonl")
    num_samples: int = field(default=8, metadata={"help": "Completions sampled per problem (k)."})
    max_new_tokens: int = 512
    temperature: float = 0.8
    seed: int = 0
    accept_rewards: list[str] = field(default_factory=lambda: ["accuracy", "format"])
    accept_threshold: float = 1.0
    keep: str = field(default="all", metadata={"help": "all accepted completions, or the shortest per problem."})
    backend: str = field(default="auto", metadata={"help": "auto, vllm or hf."})


def accepted_rows(prompts, solutions, samples, reward_funcs, threshold: float, keep: str) -> list[dict]:
    """{prompt, completion} rows for the samples every reward scores >= threshold."""
    rows = []
    for prompt, gold, group in zip(prompts, solutions, samples):
        texts = list(dict.fromkeys(s.text for s in group))  # exact duplicates once
        scores = [f(texts, solution=[gold] * len(texts), prompts=[prompt] * len(texts)) for f in reward_funcs]
        good = [t for i, t in enumerate(texts) if all(s[i] is not None and s[i] >= threshold for s in scores)]
        if keep == "shortest" and good:
            good = [min(good, key=len)]
        rows += [{"prompt": prompt, "completion": [{"role": "assistant", "content": t}]} for t in good]
    return rows


def main(sampling: SamplingArguments, data_args: DataArguments, generator=None, check_only: bool = False) -> dict:
    if sampling.keep not in ("all", "shortest"):
        raise ConfigError(f"keep: unknown '{sampling.keep}'; allowed: ['all', 'shortest']")
    configure_verification(sampling)
    template = load_prompt_template(data_args.prompt_template, data_args.prompt_templates_file)
    reward_funcs = get_reward_funcs(sampling.accept_rewards, reasoning_tag=template.reasoning_tag,
                                    answer_tag=template.answer_tag)
    dataset = load_rl_dataset(data_args)
    if check_only:
        print(f"check ok: rejection_sample.py, {len(dataset)} problems x {sampling.num_samples} samples")
        return {}
    generator = generator or make_generator(sampling.model, sampling.backend, [dataset["prompt"]],
                                            sampling.max_new_tokens)
    samples = generator.generate(dataset["prompt"], sampling.num_samples, sampling.max_new_tokens,
                                 sampling.temperature, sampling.seed)
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
    logging.basicConfig(level=logging.INFO)
    try:
        sampling_args, data_args, run_args = parse_config((SamplingArguments, DataArguments, RunArguments))
        main(sampling_args, data_args, check_only=run_args.check_only)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
