"""Sampling k completions per problem from a checkpoint and scoring them with the run's rewards:
shared by scripts/rejection_sample.py (keep the passing completions as SFT data) and
scripts/difficulty_filter.py (keep the problems the model solves sometimes, as RL data)."""

import logging
from dataclasses import dataclass, field

from data import DataArguments, load_prompt_template
from helpers.config import ConfigError, RunArguments, parse_config
from helpers.generation import Sample, make_generator
from rewards import REWARDS, VerifyArguments, check_reward_config, configure_verification, get_reward_funcs


@dataclass(kw_only=True)
class SamplingArguments(VerifyArguments):
    """How to sample and when a sample passes (the data and prompt template: DataArguments)."""

    model: str = field(metadata={"help": "The checkpoint to sample from."})
    num_samples: int = field(default=8, metadata={"help": "Completions sampled per problem (k)."})
    max_new_tokens: int = 512
    temperature: float = 0.8
    seed: int = 0
    accept_rewards: list[str] = field(default_factory=lambda: ["accuracy", "format"],
                                      metadata={"help": "A sample passes when every one of these rewards ..."})
    accept_threshold: float = field(default=1.0, metadata={"help": "... gives it at least this much."})
    backend: str = field(default="auto", metadata={"help": "auto, vllm or hf."})

    def __post_init__(self):
        super().__post_init__()
        if not self.accept_rewards:
            raise ConfigError(f"accept_rewards: empty; allowed: one or more of {sorted(REWARDS)}")
        check_reward_config(self.accept_rewards, {}, key="accept_rewards")


def pass_checks(sampling: SamplingArguments, data_args: DataArguments) -> list:
    """The reward functions a sample must pass, in the template's tags (configures verification)."""
    configure_verification(sampling)
    template = load_prompt_template(data_args.prompt_template, data_args.prompt_templates_file)
    return get_reward_funcs(sampling.accept_rewards, reasoning_tag=template.reasoning_tag,
                            answer_tag=template.answer_tag)


def sample(sampling: SamplingArguments, prompts: list, generator=None) -> list[list[Sample]]:
    """`num_samples` completions per chat prompt at `temperature` (vLLM where it is faster here)."""
    generator = generator or make_generator(sampling.model, sampling.backend, [prompts], sampling.max_new_tokens)
    return generator.generate(prompts, sampling.num_samples, sampling.max_new_tokens, sampling.temperature,
                              sampling.seed)


def passes(prompt, gold: str, texts: list[str], reward_funcs, threshold: float) -> list[bool]:
    """Per completion of one problem: whether every reward scores it at least `threshold` (a reward's
    None, no gold it can check, is a fail)."""
    scores = [f(texts, solution=[gold] * len(texts), prompts=[prompt] * len(texts)) for f in reward_funcs]
    return [all(s[i] is not None and s[i] >= threshold for s in scores) for i in range(len(texts))]


def run_command_line(arguments_type, main) -> None:
    """A sampling script's `__main__`: parse its arguments, DataArguments and RunArguments (`--check_only`)
    from `--config` and the command line, run `main`, and report a config error in one line."""
    logging.basicConfig(level=logging.INFO)
    try:
        args, data_args, run_args = parse_config((arguments_type, DataArguments, RunArguments))
        main(args, data_args, check_only=run_args.check_only)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
