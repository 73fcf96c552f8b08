"""Before the demo's first stage: check every stage's config with the run's arguments, in one process, and
print the settings the stages share as shell assignments.

    python -m scripts.demo_check [GRPO arguments ...]    # scripts/demo.sh runs it first and evals its output

Reads what scripts/demo.sh passes its stages: the GRPO arguments, and SFT_ARGS, FILTER_ARGS, FILTER_PROBLEMS,
EVAL_PROBLEMS and OUT from the environment. Each stage is checked by its own script's checks (`check_only`:
config, data, rewards, tokenizer; nothing loads weights; scripts/check_stages.py): train_sft.py's, train_grpo.py's
(on the base model, as the SFT model does not exist yet) and scripts/difficulty_filter.py's. A mistake in a setting or a
config value stops with one line, `config error: ...` (a value of the wrong type: the parser's usage message),
before any stage runs; the checks' own messages go to stderr, and stdout holds only the
assignments. One process instead of one per check: each costs seconds of imports.
"""

import os
import re
import shlex
import sys
from pathlib import Path

import yaml

from helpers.config import ConfigError, cpu_supports_bf16

CONFIGS = {"sft": "configs/demo_sft.yaml", "grpo": "configs/demo_r1.yaml"}
BASE_MODEL = "checkpoints/SmolLM2-135M-Instruct"
SETTING_DEFAULTS = {"EVAL_PROBLEMS": 100, "FILTER_PROBLEMS": 120}  # held-out problems per wording; filter candidates


def positive_int(name: str, least: int = 1, why: str = "") -> int:
    """An environment setting's whole number; unset or empty means its default (SETTING_DEFAULTS), as
    `${NAME:-default}` in bash."""
    value = os.environ.get(name) or str(SETTING_DEFAULTS[name])
    if not re.fullmatch(r"[0-9]+", value) or int(value) < least:
        raise ConfigError(f"{name}: '{value}' is not a whole number of at least {least}{why}")
    return int(value)


def shared_template() -> str:
    """The prompt template both stages train with, which the evaluations ask under. An override of one
    stage's would train and evaluate under different system prompts, so it is refused: set it in both configs."""
    templates = {yaml.safe_load(Path(path).read_text())["prompt_template"] for path in CONFIGS.values()}
    if len(templates) > 1:
        raise ConfigError(f"prompt_template: {CONFIGS['sft']} and {CONFIGS['grpo']} name different templates "
                          f"({', '.join(sorted(templates))}); allowed: the same one in both")
    return templates.pop()


def refuse_template_overrides(*argument_lists: list[str]) -> None:
    # The parser also takes dashes for underscores and unambiguous prefixes: --prompt-template, --prompt_t.
    for arg in (arg for arguments in argument_lists for arg in arguments):
        if arg.replace("-", "_").startswith("__prompt_t"):
            raise ConfigError(f"prompt_template, prompt_templates_file: set them in {CONFIGS['sft']} and "
                              f"{CONFIGS['grpo'].split('/')[-1]} (both stages and the evaluations read them there), "
                              f"not as arguments ({arg})")


def main(grpo_argv: list[str]) -> dict[str, str | list[str]]:
    # Imported here, after __main__ has pointed stdout at stderr: TRL imports vLLM, which logs to stdout.
    from helpers.generation import demo_grpo_engine_args, vllm_is_faster_here
    from helpers.sampling import grpo_filter_args
    from scripts.check_stages import check_stage

    sft_argv, filter_argv = os.environ.get("SFT_ARGS", "").split(), os.environ.get("FILTER_ARGS", "").split()
    out = os.environ.get("OUT", "outputs/demo")
    eval_problems = positive_int("EVAL_PROBLEMS")
    refuse_template_overrides(grpo_argv, sft_argv, filter_argv)
    template = shared_template()
    engine = "vllm" if vllm_is_faster_here() else "hf"
    grpo_engine = demo_grpo_engine_args(engine)

    check_stage("train_sft.py", ["--config", CONFIGS["sft"], "--output_dir", f"{out}/sft", *sft_argv])
    check_stage("train_grpo.py", ["--config", CONFIGS["grpo"], "--model_name_or_path", BASE_MODEL,
                                  "--output_dir", out, *grpo_engine, *grpo_argv])

    # The filter samples as the GRPO stage will, with its arguments, and keeps at least one generation round of
    # prompts (--min_kept, the last of grpo_filter_args): below that it writes every candidate instead.
    sampling = grpo_filter_args(CONFIGS["grpo"], grpo_argv)
    problems = positive_int("FILTER_PROBLEMS", least=int(sampling[-1]),
                            why=" (the prompts of one GRPO generation round)")
    filter_args = [*sampling, "--arithmetic_size", str(problems), "--backend", engine, *filter_argv,
                   "--output", f"{out}/filtered.jsonl"]
    check_stage("scripts/difficulty_filter.py", ["--model", f"{out}/sft", *filter_args])
    return {"EVAL_ENGINE": engine, "BF16": str(cpu_supports_bf16()), "TEMPLATE": template,
            "GRPO_ENGINE": grpo_engine, "FILTER": filter_args, "EVAL_PROBLEMS": str(eval_problems),
            "FILTER_PROBLEMS": str(problems)}


def shell_assignments(settings: dict[str, str | list[str]]) -> str:
    return "\n".join(f"{name}=({' '.join(map(shlex.quote, value))})" if isinstance(value, list)
                     else f"{name}={shlex.quote(value)}" for name, value in settings.items())


if __name__ == "__main__":
    # bash evals stdout: whatever the checks print, Python or native code (a library's C++ logging), goes to
    # stderr, by pointing file descriptor 1 there; the assignments go to the saved original.
    assignments = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        settings = main(sys.argv[1:])
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
    assignments.write(shell_assignments(settings) + "\n")
    assignments.flush()
