"""The training run around TRL's trainers, shared by train_grpo.py and train_sft.py: how the
model is loaded, where a run resumes, one progress line per step, and a run that diverges
or whose reward keeps failing stops with a message and saves nothing."""

import logging
import math
import os
import time

import torch
from transformers import AutoTokenizer, PrinterCallback, ProgressCallback, TrainerCallback
from transformers.trainer_utils import SaveStrategy, get_last_checkpoint

from helpers.config import ConfigError
from rewards import RewardFailure

logger = logging.getLogger(__name__)


def load_tokenizer(model_args):
    """The model's tokenizer; a wrong path or an unreachable Hub id is a ConfigError naming the key."""
    name = model_args.model_name_or_path
    try:
        return AutoTokenizer.from_pretrained(name, revision=model_args.model_revision)
    except (OSError, ValueError) as error:  # ValueError: huggingface_hub's HFValidationError
        raise ConfigError(f"model_name_or_path: cannot load '{name}' (not a model folder, or a Hub id that "
                          f"cannot be reached): {str(error).splitlines()[0]}") from error


def set_model_init_kwargs(training_args, model_args) -> None:
    """TRL loads the model from its id; ModelConfig says how (dtype, attention, revision)."""
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "dtype": model_args.dtype,
        "attn_implementation": model_args.attn_implementation,
        **(training_args.model_init_kwargs or {}),
    }


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


class CompactProgress(TrainerCallback):
    """One line per logged step instead of a dict of 40 metrics; the full metrics still go to
    `report_to` and trainer_state.json."""

    # (metric, label, format): the first ones a run has are shown, in this order.
    COLUMNS = [("reward", "reward", "{:+.3f}"), ("loss", "loss", "{:.4f}"),
               ("mean_token_accuracy", "token acc", "{:.3f}"),
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


class StopAfterSeconds(TrainerCallback):
    """End training at the first step end `seconds` after training began (`max_train_seconds`), with the
    checkpoint a run saving every N steps writes at max_steps, so that `--resume_from_checkpoint auto`
    continues from there."""

    def __init__(self, seconds: float):
        self.seconds, self.began = seconds, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.began = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if not control.should_training_stop and time.monotonic() - self.began >= self.seconds:
            logger.info("max_train_seconds=%g reached: stopping after step %d", self.seconds, state.global_step)
            control.should_training_stop = True
            control.should_save = control.should_save or args.save_strategy == SaveStrategy.STEPS
        return control


def train_and_save(trainer, checkpoint: str | None, non_finite: StopOnNonFinite,
                   max_train_seconds: float | None = None) -> None:
    """Train (resuming from `checkpoint`, for at most `max_train_seconds` if given), then save the model and
    its log history, unless the run diverged."""
    output_dir = trainer.args.output_dir
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(CompactProgress())
    if max_train_seconds is not None:
        if not str(trainer.args.lr_scheduler_type).startswith("constant"):
            logger.warning("max_train_seconds with lr_scheduler_type %s: the schedule runs to max_steps, so a run "
                           "stopped by time ends before it decays", trainer.args.lr_scheduler_type)
        # Before the non-finite check, which looks at the weights only when a step end saves.
        trainer.remove_callback(non_finite)
        trainer.add_callback(StopAfterSeconds(max_train_seconds))
        trainer.add_callback(non_finite)
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
    except RewardFailure as error:
        raise SystemExit(f"training stopped at step {trainer.state.global_step}: {error}; the model was not "
                         f"saved (earlier checkpoints are in {output_dir})") from error
    non_finite.exit_if_stopped(output_dir)
    trainer.save_state()  # trainer_state.json with the log history, for scripts/plot_metrics.py
    trainer.save_model(output_dir)
    logger.info("saved the model to %s", output_dir)
