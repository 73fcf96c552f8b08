"""Check several stages' command lines in one process, each by its own script's `--check_only true` checks
(config, data, rewards, tokenizer; nothing loads weights), and stop at the first mistake.

    python -m scripts.check_stages train_grpo.py ARGS ... ::: train_sft.py ARGS ... \
        ::: scripts/rejection_sample.py ARGS ...

scripts/run_r1_pipeline.sh runs it before its first stage; scripts/demo_check.py uses `check_stage`. One process
instead of one per stage: each costs ~15 s of imports (torch, TRL, vLLM) on 2 cores, which the checks themselves
do not need again.
"""

import os
import sys

from helpers.config import ConfigError, parse_config

SEPARATOR = ":::"
STAGE_SCRIPTS = ("train_grpo.py", "train_sft.py", "scripts/rejection_sample.py", "scripts/difficulty_filter.py")


def check_stage(script: str, argv: list[str]) -> None:
    """What `python <script> <argv> --check_only true` checks, in this process; raises ConfigError."""
    # Imported here: each is a training script or a command, and a pipeline checks only some of them.
    if script == "train_grpo.py":
        import train_grpo
        train_grpo.main(*parse_config(train_grpo.ARGUMENT_TYPES, argv)[:4], check_only=True)
    elif script == "train_sft.py":
        import train_sft
        train_sft.main(*parse_config(train_sft.ARGUMENT_TYPES, argv)[:3], check_only=True)
    elif script in ("scripts/rejection_sample.py", "scripts/difficulty_filter.py"):
        from helpers.sampling import parse_command_line
        from scripts import difficulty_filter, rejection_sample
        module, arguments = ((rejection_sample, rejection_sample.RejectionArguments) if "rejection" in script
                             else (difficulty_filter, difficulty_filter.FilterArguments))
        args, data_args, _ = parse_command_line(arguments, argv)
        module.main(args, data_args, check_only=True)
    else:
        raise ConfigError(f"check_stages: {script} is not a stage script; allowed: {', '.join(STAGE_SCRIPTS)}")


def stages(argv: list[str]) -> list[tuple[str, list[str]]]:
    """`script args ... ::: script args ...` as (script, args) pairs; scripts are named from the repository root."""
    groups, current = [], []
    for arg in [*argv, SEPARATOR]:
        if arg != SEPARATOR:
            current.append(arg)
        elif current:
            groups.append((os.path.normpath(current[0]), current[1:]))
            current = []
    return groups


if __name__ == "__main__":
    for script, arguments in stages(sys.argv[1:]):
        try:
            check_stage(script, arguments)
        except ConfigError as error:
            raise SystemExit(f"config error: {script}: {error}") from None
