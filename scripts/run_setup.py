"""What every entry point does before it loads a model: parse the YAML config the TRL way
and reject a bad one with a message that names the key and the allowed values."""

import difflib
import importlib.util
import json
import logging
import math
import os
import time

import torch
from transformers import PrinterCallback, ProgressCallback, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint
from trl import TrlParser

from rewards import RewardFailure

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
        if "bf16" in str(error) and not torch.cuda.is_available():
            raise ConfigError("bf16: true needs a GPU, or --use_cpu true to compute in bf16 on a CPU with AVX512-BF16 "
                              "or AMX; otherwise pass --bf16 false") from error
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


def cpu_supports_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls run several times faster than fp32 on such CPUs."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def check_precision(training_args, model_args) -> None:
    """fp32 master weights, low-precision compute: the one combination in which small updates survive.

    Loaded in bf16, the weights themselves are bf16 and the Trainer keeps no fp32 copy: an AdamW
    step at lr 1e-6 changed 0.4 % of SmolLM2's weights (99.9 % in fp32). `bf16: true` keeps
    fp32 weights and optimizer state and computes in bf16 (autocast).
    """
    if model_args.dtype in ("bfloat16", "float16", "auto") and not model_args.use_peft:
        raise ConfigError(
            f"dtype: {model_args.dtype} would store the trained weights themselves in low precision, and full-"
            f"parameter AdamW updates round away (at lr 1e-6, 0.4 % of weights change in bf16 vs 99.9 % in fp32); "
            f"allowed: float32 (add bf16: true for bf16 compute), or a low-precision dtype with use_peft: true")
    on_cpu = training_args.use_cpu or not torch.cuda.is_available()
    if on_cpu and training_args.fp16:
        raise ConfigError("fp16: needs a CUDA GPU and none is visible; allowed on CPU: bf16: true (if the CPU "
                          "supports it) or fp16: false")
    if on_cpu and training_args.bf16 and not cpu_supports_bf16():
        raise ConfigError("bf16: true, but this CPU has no bf16 instructions (AVX512-BF16 or AMX) and no GPU is "
                          "visible; pass --bf16 false")


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
                          "(or use configs/demo_zero.yaml on CPU)")


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines a user can act on; progress bars of dataset maps and weight loading are noise."""
    import datasets
    import transformers

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


class CompactProgress(TrainerCallback):
    """One line per logged step instead of a dict of 40 metrics; the full metrics still go to
    `report_to` and trainer_state.json."""

    # (metric, label, format): the first ones a run has are shown, in this order.
    COLUMNS = [("reward", "reward", "{:+.3f}"), ("loss", "loss", "{:.4f}"), ("mean_token_accuracy", "token acc", "{:.3f}"),
               ("rewards/accuracy/mean", "accuracy", "{:.2f}"), ("rewards/format/mean", "format", "{:.2f}"),
               ("completions/mean_length", "length", "{:.0f}"), ("entropy", "entropy", "{:.3f}"),
               ("frac_reward_zero_std", "groups w/o signal", "{:.2f}")]

    def __init__(self, bar_width: int = 20):
        self.bar_width = bar_width
        self.last_time = self.last_step = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.last_time, self.last_step = time.monotonic(), state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if not state.is_world_process_zero or not any(key in logs for key in ("loss", "reward")):
            return
        now = time.monotonic()
        per_step = logs.get("step_time") or (now - self.last_time) / max(1, state.global_step - self.last_step)
        self.last_time, self.last_step = now, state.global_step
        done = state.global_step / max(1, state.max_steps)
        bar = "#" * round(done * self.bar_width) + "-" * (self.bar_width - round(done * self.bar_width))
        shown = [f"{label} {fmt.format(logs[key])}" for key, label, fmt in self.COLUMNS
                 if isinstance(logs.get(key), (int, float)) and not (key == "loss" and "reward" in logs)]
        print(f"step {state.global_step:>4}/{state.max_steps} [{bar}] " + " | ".join(shown)
              + f" | {per_step:.1f} s/step", flush=True)


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
    """Stop a run whose loss, gradient norm or weights stop being finite, instead of training on
    NaN, and never write a checkpoint after that step (`--resume_from_checkpoint auto` would
    pick it up)."""

    def __init__(self):
        self.bad_step = None

    def _stop(self, state, control, what) -> None:
        if self.bad_step is None:
            self.bad_step = state.global_step
            logger.error("non-finite %s at step %d: stopping without saving; lower learning_rate or check the "
                         "rewards", what, state.global_step)
        control.should_training_stop = True
        control.should_save = False

    def on_step_end(self, args, state, control, model=None, **kwargs):
        # The loss is logged every logging_steps only: check the weights themselves before a save.
        if control.should_save and model is not None and not all(
                torch.isfinite(p).all() for p in model.parameters() if p.numel()):
            self._stop(state, control, "weights")
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        bad = {k: v for k, v in (logs or {}).items()
               if k in ("loss", "grad_norm", "reward") and isinstance(v, float) and not math.isfinite(v)}
        if bad or self.bad_step is not None:
            self._stop(state, control, bad)
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
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(CompactProgress())
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
    except RewardFailure as error:
        raise SystemExit(f"training stopped at step {trainer.state.global_step}: {error}; the model was not "
                         f"saved (earlier checkpoints are in {output_dir})") from error
    non_finite.exit_if_stopped(output_dir)
    trainer.save_state()  # trainer_state.json with the log history, for scripts/plot_metrics.py
    trainer.save_model(output_dir)
    logger.info("saved the model to %s", output_dir)
