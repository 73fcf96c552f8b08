"""Check several stages' command lines in one process, each by its own script's `--check_only true` checks
(config, data, rewards, tokenizer; nothing loads weights), and stop at the first mistake.

    python -m scripts.check_stages train_grpo.py ARGS ... ::: train_sft.py ARGS ... \\
        ::: scripts/rejection_sample.py ARGS ...

scripts/run_r1_pipeline.sh runs it before its first stage; scripts/demo_check.py uses `check_stage`. One process
instead of one per stage: each costs ~15 s of imports (torch, TRL, vLLM) on 2 cores, which the checks themselves
do not need again.
"""

import importlib
import os
import sys
from functools import partial

from helpers.config import ConfigError, parse_config, setup_logging

SEPARATOR = ":::"


# Each imports its script here: a pipeline checks only some of them, and each import costs seconds.
def check_grpo(argv: list[str]) -> None:
    import train_grpo
    data_args, reward_args, training_args, model_args, _, health = parse_config(train_grpo.ARGUMENT_TYPES, argv)
    train_grpo.main(data_args, reward_args, training_args, model_args, check_only=True, health=health)


def check_sft(argv: list[str]) -> None:
    import train_sft
    data_args, training_args, model_args, _ = parse_config(train_sft.ARGUMENT_TYPES, argv)
    train_sft.main(data_args, training_args, model_args, check_only=True)


def check_sampling(module_name: str, arguments_name: str, argv: list[str]) -> None:
    """A sampling script's checks (scripts/rejection_sample.py, scripts/difficulty_filter.py: helpers/sampling.py)."""
    from helpers.sampling import parse_command_line
    module = importlib.import_module(f"scripts.{module_name}")
    args, data_args, _ = parse_command_line(getattr(module, arguments_name), argv)
    module.main(args, data_args, check_only=True)


CHECKS = {"train_grpo.py": check_grpo, "train_sft.py": check_sft,
          "scripts/rejection_sample.py": partial(check_sampling, "rejection_sample", "RejectionArguments"),
          "scripts/difficulty_filter.py": partial(check_sampling, "difficulty_filter", "FilterArguments")}


def check_stage(script: str, argv: list[str]) -> None:
    """What `python <script> <argv> --check_only true` checks, in this process; raises ConfigError."""
    if script not in CHECKS:
        raise ConfigError(f"check_stages: {script} is not a stage script; allowed: {', '.join(CHECKS)}")
    CHECKS[script](argv)


def stages(argv: list[str]) -> list[tuple[str, list[str]]]:
    """`script args ... ::: script args ...` as (script, args) pairs; scripts are named from the repository root."""
    groups, current = [], []
    for arg in [*argv, SEPARATOR]:
        if arg != SEPARATOR:
            current.append(arg)
        elif current:
            groups.append((os.path.normpath(current[0]), current[1:]))
            current = []
    if not groups:
        raise ConfigError(f"check_stages: no stage given; allowed: one or more of {', '.join(CHECKS)} with their "
                          f"arguments, separated by {SEPARATOR}")
    return groups


if __name__ == "__main__":
    setup_logging()
    try:
        for number, (script, arguments) in enumerate(stages(sys.argv[1:]), 1):
            # The parser reports a value of the wrong type with its usage message, which names no stage.
            print(f"checking stage {number}: {script}", file=sys.stderr)
            try:
                check_stage(script, arguments)
            except ConfigError as error:
                raise ConfigError(f"{script}: {error}") from None
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
