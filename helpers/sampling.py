"""Sampling k completions per problem from a checkpoint and scoring them with the run's rewards:
shared by scripts/rejection_sample.py (keep the passing completions as SFT data) and
scripts/difficulty_filter.py (keep the problems the model solves sometimes, as RL data)."""

import logging
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

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


def parse_command_line(arguments_type, argv: list[str]) -> tuple:
    """A sampling script's arguments, DataArguments and RunArguments (`--check_only`) from `--config` and
    `argv`. `--grpo_config FILE` (a train_grpo.py config) sets the data, prompt and sampling keys to what that
    run draws (sampling_args_for), as if given first on the command line: the keys given after it win, and it
    wins over a `--config` file."""
    flags = [i for i, arg in enumerate(argv) if arg == "--grpo_config" or arg.startswith("--grpo_config=")]
    if flags:
        at = flags[0]
        given, rest = (argv[at].split("=", 1)[1], argv[at + 1:]) if "=" in argv[at] else (
            (argv[at + 1], argv[at + 2:]) if at + 1 < len(argv) else ("(nothing)", []))
        if not Path(given).is_file():
            raise ConfigError(f"grpo_config: {given} is not a file; allowed: a train_grpo.py config (YAML)")
        argv = sampling_args_for(given) + argv[:at] + rest
    return parse_config((arguments_type, DataArguments, RunArguments), argv)


def run_command_line(arguments_type, main) -> None:
    """A sampling script's `__main__`: parse its command line (parse_command_line), run `main`, and report a
    config error in one line."""
    logging.basicConfig(level=logging.INFO)
    try:
        args, data_args, run_args = parse_command_line(arguments_type, sys.argv[1:])
        main(args, data_args, check_only=run_args.check_only)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None


# A GRPO config's sampling keys and the sampling scripts' names for them.
GRPO_SAMPLING_KEYS = {"num_generations": "num_samples", "temperature": "temperature",
                      "max_completion_length": "max_new_tokens"}


def command_line_keys(argv: list[str]) -> dict:
    """The keys of a command line: `--key value`, `--key v1 v2` (a list) and `--key=value`; dashes in a key
    read as underscores, a key without a value as "true"."""
    keys, key = {}, None
    for arg in argv:
        if arg.startswith("--"):
            key, given, value = arg[2:].replace("-", "_").partition("=")
            keys[key] = [value] if given else []
        elif key is not None:
            keys[key].append(arg)
    return {k: v[0] if len(v) == 1 else v or "true" for k, v in keys.items()}


def sampling_args_for(grpo_config: str, grpo_args: list[str] = ()) -> list[str]:
    """Command-line arguments that make a sampling script draw what a train_grpo.py run would: the config's
    data and prompt keys (DataArguments) and its temperature, num_generations and max_completion_length,
    each overridden by `grpo_args` (that run's extra arguments)."""
    settings = yaml.safe_load(Path(grpo_config).read_text()) | command_line_keys(list(grpo_args))
    names = {f.name: f.name for f in fields(DataArguments)} | GRPO_SAMPLING_KEYS
    return [arg for key, name in names.items() if settings.get(key) is not None
            for arg in (f"--{name}", *(map(str, settings[key]) if isinstance(settings[key], list)
                                      else [str(settings[key])]))]


def grpo_filter_args(grpo_config: str, grpo_args: list[str] = ()) -> list[str]:
    """scripts/difficulty_filter.py arguments for a train_grpo.py run: sampling_args_for, and `--min_kept` one
    generation round of prompts (generation_batch_size / num_generations, as TRL derives it from the run's
    keys): fewer, and TRL's sampler would give that run nothing to train on."""
    import train_grpo  # the run's own parser and checks (imported here: the sampling scripts need no GRPO stack)

    training_args = parse_config(train_grpo.ARGUMENT_TYPES, ["--config", grpo_config, *grpo_args])[2]
    per_round = train_grpo.prompts_per_round(training_args)
    return sampling_args_for(grpo_config, grpo_args) + ["--min_kept", str(per_round)]
