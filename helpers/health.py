"""A GRPO training-health monitor: watches the metrics TRL (and rewards.py) already log and says,
once and in plain words, when a run is not learning and why. On in every GRPO config; the
thresholds are the `health_*` keys below (`--health_monitor false` turns it off).

The warnings and what trips them (a "window" is `health_window` logged steps):
  no_signal        share of zero-std groups (`frac_reward_zero_std`) above health_max_zero_std_share
                   at every step of a window
  entropy_collapse mean token entropy below health_min_entropy at every step of a window
  clipped          share of completions cut at max_completion_length (`completions/clipped_ratio`)
                   above health_max_clipped_ratio at every step of a window
  reward_hacking   over the last two windows, the format reward's mean rose and the accuracy
                   reward's fell, each by more than health_min_reward_change
  reward_flat      the total reward's mean over the last window differs from the window before by
                   less than health_min_reward_change
  verify_timeouts  math-verify timed out on some answer (`verify/timeouts` > 0): those score 0
  reward_errors    a reward function failed on a batch (`rewards/<name>/errors` > 0)
At the end of training the monitor logs every warning with the step it fired at and writes them
to `<output_dir>/health.json`.
"""

import json
import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from helpers.config import ConfigError

logger = logging.getLogger(__name__)

ADVICE = {
    "no_signal": "every completion of most prompts got the same reward; GRPO learns nothing from such groups: raise "
                 "temperature or num_generations, or use problems nearer the model's level",
    "entropy_collapse": "the policy has become nearly deterministic, so its samples no longer differ: raise "
                        "temperature, lower learning_rate, or start from an earlier checkpoint",
    "clipped": "many completions hit max_completion_length before finishing, so they get no answer reward: raise "
               "max_completion_length or penalise length (the cosine reward)",
    "reward_hacking": "the format reward rises while accuracy falls: the model is learning the tags, not the "
                      "answers; lower the format reward's weight",
    "reward_flat": "the total reward has not moved: check the rewards on a few completions, raise learning_rate "
                   "or train on problems the model sometimes solves",
    "verify_timeouts": "math-verify timed out on some answers, which then score 0: raise verify_timeout_s",
    "reward_errors": "a reward function raised on some batches (scored None for them): see the log above",
}


@dataclass
class HealthArguments:
    """The training-health monitor's thresholds (helpers/health.py)."""

    health_monitor: bool = field(default=True, metadata={"help": "Warn when the run shows a known failure."})
    health_window: int = field(default=5, metadata={"help": "Logged steps a condition must hold before it warns."})
    health_max_zero_std_share: float = field(default=0.75, metadata={
        "help": "no_signal: the share of prompt groups whose completions all got the same reward."})
    health_min_entropy: float = field(default=0.05, metadata={"help": "entropy_collapse: mean token entropy."})
    health_max_clipped_ratio: float = field(default=0.5, metadata={
        "help": "clipped: the share of completions cut at max_completion_length."})
    health_min_reward_change: float = field(default=0.01, metadata={
        "help": "reward_flat and reward_hacking: the change of a window's mean reward that counts as moving."})

    def __post_init__(self):
        if self.health_window < 1:
            raise ConfigError(f"health_window: {self.health_window}; allowed: an integer >= 1")
        for key in ("health_max_zero_std_share", "health_max_clipped_ratio"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key}: {getattr(self, key)} is out of range; allowed: 0.0 to 1.0")
        for key in ("health_min_entropy", "health_min_reward_change"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}: {getattr(self, key)} is out of range; allowed: >= 0")


class HealthMonitor(TrainerCallback):
    """Reads each training log, keeps the history, warns once per kind (see the module docstring)."""

    def __init__(self, args: HealthArguments):
        self.args = args
        self.history: list[dict] = []
        self.warnings: dict[str, dict] = {}  # kind -> {"step", "message"}

    def _warn(self, kind: str, step: int, detail: str) -> None:
        if kind in self.warnings:
            return
        message = f"{detail}; {ADVICE[kind]}"
        self.warnings[kind] = {"step": step, "message": message}
        logger.warning("training health (step %d) %s: %s", step, kind, message)

    def _every_step_of_window(self, key: str, condition) -> float | None:
        """The window's mean of `key` when `condition` holds at each of its steps, else None."""
        window = [entry.get(key) for entry in self.history[-self.args.health_window :]]
        if len(window) < self.args.health_window or any(v is None or not condition(v) for v in window):
            return None
        return statistics.fmean(window)

    def _two_window_change(self, key: str) -> float | None:
        """Mean of `key` over the last window minus its mean over the window before."""
        n = self.args.health_window
        values = [entry[key] for entry in self.history if key in entry]
        if len(values) < 2 * n:
            return None
        return statistics.fmean(values[-n:]) - statistics.fmean(values[-2 * n : -n])

    def check(self, logs: dict, step: int) -> None:
        """Add one logged step's metrics and raise whatever warnings they now trip."""
        self.history.append(logs)
        a, n = self.args, self.args.health_window
        share = self._every_step_of_window("frac_reward_zero_std", lambda v: v > a.health_max_zero_std_share)
        if share is not None:
            self._warn("no_signal", step, f"{share:.0%} of prompt groups carried no signal over the last {n} steps")
        entropy = self._every_step_of_window("entropy", lambda v: v < a.health_min_entropy)
        if entropy is not None:
            self._warn("entropy_collapse", step, f"token entropy {entropy:.3f} over the last {n} steps")
        clipped = self._every_step_of_window("completions/clipped_ratio", lambda v: v > a.health_max_clipped_ratio)
        if clipped is not None:
            self._warn("clipped", step, f"{clipped:.0%} of completions were cut at max_completion_length "
                                        f"over the last {n} steps")
        format_change = self._two_window_change("rewards/format/mean")
        accuracy_change = self._two_window_change("rewards/accuracy/mean")
        if format_change is not None and accuracy_change is not None and \
                format_change > a.health_min_reward_change and accuracy_change < -a.health_min_reward_change:
            self._warn("reward_hacking", step, f"format reward {format_change:+.3f}, accuracy reward "
                                               f"{accuracy_change:+.3f} (last {n} steps vs the {n} before)")
        reward_change = self._two_window_change("reward")
        if reward_change is not None and abs(reward_change) < a.health_min_reward_change:
            self._warn("reward_flat", step, f"the mean reward changed by {reward_change:+.4f} over the last "
                                            f"{2 * n} steps")
        if logs.get("verify/timeouts", 0) > 0:
            self._warn("verify_timeouts", step, f"{logs['verify/timeouts']:.0f} answer(s) timed out in math-verify")
        errors = {key.split("/")[1]: v for key, v in logs.items()
                  if key.startswith("rewards/") and key.endswith("/errors") and v > 0}
        if errors:
            self._warn("reward_errors", step, f"reward errors {errors}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs and "reward" in logs:
            self.check(logs, state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        summary = [{"kind": kind, **warning} for kind, warning in self.warnings.items()]
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.output_dir) / "health.json").write_text(json.dumps(summary, indent=2))
        if not summary:
            logger.info("training health: no warnings over %d logged steps", len(self.history))
            return
        lines = "\n".join(f"  step {w['step']:>4}  {w['kind']}: {w['message']}" for w in summary)
        logger.warning("training health: %d warning(s)\n%s", len(summary), lines)
