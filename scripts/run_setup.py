"""What every entry point does before it loads a model: parse the YAML config the TRL way
and reject a bad one with a message that names the key and the allowed values."""

import difflib
import importlib.util
import json
import logging
import math
import os

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint
from trl import TrlParser

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config mistake, reported as `config error: ...` before any model loads."""


def parse_config(dataclass_types, args=None):
    """`--config file.yaml` plus command-line overrides into the given dataclasses.

    TRL's parser already rejects unknown YAML keys; this also rejects unknown command-line
    flags and suggests the nearest real key for both.
    """
    parser = TrlParser(dataclass_types)
    try:
        *parsed, config_unknown, cli_unknown = parser.parse_args_and_config(
            args, return_remaining_strings=True, separate_remaining_strings=True)
    except ValueError as error:
        if not torch.cuda.is_available() and ("bf16" in str(error) or "fp16" in str(error)):
            raise ConfigError("bf16/fp16: mixed precision needs a GPU and none is visible; pass --bf16 false "
                              "(and --fp16 false), or use a CPU config such as configs/demo.yaml") from error
        raise ConfigError(str(error)) from error
    unknown = [item[2:].split("=")[0] for item in config_unknown + cli_unknown if item.startswith("--")]
    if unknown:
        known = [action.dest for action in parser._actions]
        hints = {key: difflib.get_close_matches(key, known, n=3) for key in unknown}
        raise ConfigError("unknown key(s): " + "; ".join(
            f"'{key}'" + (f" (did you mean {', '.join(close)}?)" if close else "") for key, close in hints.items())
            + "; every allowed key is listed by --help")
    if len(parsed) == 1:
        return parsed[0]
    return parsed


def parse_mapping(value, key: str) -> dict:
    """A dict-valued option: a YAML mapping, or JSON text from the command line."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{key}: not valid JSON ({error}); e.g. --{key} '{{\"cosine\": {{\"max_len\": 512}}}}'")
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value


def check_generation_backend(training_args) -> None:
    """vLLM needs the package and a CUDA GPU; say which to install or which flag to flip."""
    if not getattr(training_args, "use_vllm", False):
        return
    if training_args.vllm_mode not in ("colocate", "server"):
        raise ConfigError(f"vllm_mode: unknown '{training_args.vllm_mode}'; allowed: ['colocate', 'server']")
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("use_vllm: true, but vLLM is not installed: pip install -r requirements-gpu.txt "
                          "(needs a CUDA GPU), or pass --use_vllm false to generate with transformers")
    if not torch.cuda.is_available():
        raise ConfigError("use_vllm: true needs a CUDA GPU and none is visible; pass --use_vllm false "
                          "(or use configs/demo.yaml on CPU)")


def setup_logging(training_args) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=training_args.get_process_log_level())


def resolve_checkpoint(training_args) -> str | None:
    """`resume_from_checkpoint`: a checkpoint folder, or `auto` for the newest in output_dir."""
    value = training_args.resume_from_checkpoint
    if value in (None, "", "false", "False", False):
        return None
    if value in ("auto", "true", "True", True):
        output_dir = training_args.output_dir
        last = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
        if last is None:
            logger.info("resume_from_checkpoint=auto: no checkpoint in %s yet, starting fresh", output_dir)
        return last
    if not os.path.isdir(value):
        raise ConfigError(f"resume_from_checkpoint: '{value}' is not a folder; give a checkpoint-N folder or 'auto'")
    return value


def check_save_steps(training_args) -> None:
    """GRPO checkpoints resume exactly only at the start of a generation round.

    TRL generates `steps_per_generation x num_iterations` micro-batches at once and does not
    save that buffer, so a checkpoint taken mid-round resumes with freshly generated
    completions where the original run reused old ones: the runs diverge.
    """
    if training_args.save_strategy != "steps" or training_args.save_steps < 1:
        return
    round_length = training_args.steps_per_generation * training_args.num_iterations  # micro-batches
    micro_batches = int(training_args.save_steps) * training_args.gradient_accumulation_steps
    if micro_batches % round_length:
        multiple = round_length // math.gcd(round_length, training_args.gradient_accumulation_steps)
        raise ConfigError(
            f"save_steps: {training_args.save_steps} optimizer steps end mid-way through a generation round "
            f"(steps_per_generation x num_iterations = {round_length} micro-batches, gradient_accumulation_steps = "
            f"{training_args.gradient_accumulation_steps}); TRL does not save its generation buffer, so such a "
            f"checkpoint would resume out of phase. Use a multiple of {multiple}.")


class StopOnNonFinite(TrainerCallback):
    """Stop a run whose loss or gradient norm stops being finite, instead of training on NaN."""

    def __init__(self):
        self.bad_step = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        bad = {k: v for k, v in (logs or {}).items()
               if k in ("loss", "grad_norm", "reward") and isinstance(v, float) and not math.isfinite(v)}
        if bad and self.bad_step is None:
            self.bad_step = state.global_step
            logger.error("non-finite %s at step %d: stopping; lower learning_rate or check the rewards",
                         bad, state.global_step)
            control.should_training_stop = True
        return control

    def exit_if_stopped(self, output_dir: str) -> None:
        if self.bad_step is not None:
            raise SystemExit(f"training stopped at step {self.bad_step}: the loss or gradient became non-finite; "
                             f"the model was not saved (earlier checkpoints are in {output_dir})")


def set_model_init_kwargs(training_args, model_args) -> None:
    """TRL loads the model from its id; ModelConfig says how (dtype, attention, revision)."""
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "dtype": model_args.dtype,
        "attn_implementation": model_args.attn_implementation,
        **(training_args.model_init_kwargs or {}),
    }


def train_and_save(trainer, checkpoint: str | None, non_finite: StopOnNonFinite) -> None:
    """Train (resuming from `checkpoint`), then save the model and its log history, unless the run diverged."""
    output_dir = trainer.args.output_dir
    trainer.train(resume_from_checkpoint=checkpoint)
    non_finite.exit_if_stopped(output_dir)
    trainer.save_state()  # trainer_state.json with the log history, for scripts/plot_metrics.py
    trainer.save_model(output_dir)
    logger.info("saved the model to %s", output_dir)
