"""A GRPO training-health monitor: watches the metrics TRL (and rewards.py) already log and says,
once and in plain words, when a run is not learning and why. On in every GRPO config; the
thresholds are the `health_*` keys below (`--health_monitor false` turns it off).

A "window" is the last `health_window` logged steps (all of them early in a run). Per-step metrics
of a small batch are noisy (4 prompts' accuracy moves 0.00-0.34 from step to step), so a window is
judged by its mean, a change between two windows by its standard error, and a condition warns only
once it has held at `health_patience` judged steps in a row (judging starts at a run's second step;
a run too short for that many is judged on its last step; the two change warnings, which compare
two windows of at least 2 steps, can first hold at step 4). The warnings:
  no_signal        mean share of zero-std groups (`frac_reward_zero_std`) >= health_max_zero_std_share
  entropy_collapse mean token entropy < health_min_entropy
  clipped          mean share of completions cut at max_completion_length (`completions/clipped_ratio`)
                   > health_max_clipped_ratio
  reward_hacking   the format rewards rose and the correctness rewards fell (each role's rewards
                   averaged as shares of their best values), each by more than health_z standard
                   errors, last window vs the one before (the roles come from rewards.REWARD_ROLES,
                   for the run's reward_funcs)
  reward_flat      the total reward's change, last window vs the one before, lies within
                   ±health_min_reward_change with health_z standard errors to spare (so noise is not
                   called flat); not while no_signal holds (its cause), correctness is >= 0.9 of
                   its best (saturated), or a role's rewards moved by more than both
                   health_min_reward_change and health_z standard errors (a weighted total can stay
                   flat while the format rises and a 4-prompt accuracy wobbles)
  verify_timeouts  math-verify timed out on some answer (`verify/timeouts` > 0): those score 0
  reward_errors    a reward function failed on a batch (`rewards/<name>/errors` > 0)
At the end of training the monitor logs every warning with the step it fired at and writes them
to `<output_dir>/health.json`.
"""

import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from helpers.config import ConfigError

logger = logging.getLogger(__name__)

ADVICE = {
    "no_signal": "every completion of most prompts got the same reward; GRPO learns nothing from such groups: "
                 "raise temperature or num_generations, or use problems nearer the model's level",
    "entropy_collapse": "the policy has become nearly deterministic, so its samples no longer differ: raise "
                        "temperature, lower learning_rate, or start from an earlier checkpoint",
    "clipped": "many completions hit max_completion_length before finishing, so they get no answer reward: raise "
               "max_completion_length or penalise length (the cosine reward)",
    "reward_hacking": "the format reward rises while correctness falls: the model is learning the tags, not the "
                      "answers; lower the format reward's weight",
    "reward_flat": "the total reward has not moved although groups carry signal: check the rewards on a few "
                   "completions, then raise learning_rate",
    "verify_timeouts": "math-verify timed out on some answers, which then score 0: raise verify_timeout_s",
    "reward_errors": "a reward function raised on some batches (scored None for them): see the log above",
}
SATURATED_CORRECTNESS = 0.9  # a correctness mean above this is a solved task, not a stuck one


@dataclass
class HealthArguments:
    """The training-health monitor's thresholds (helpers/health.py)."""

    health_monitor: bool = field(default=True, metadata={"help": "Warn when the run shows a known failure."})
    health_window: int = field(default=5, metadata={"help": "Logged steps per window (fewer early in a run), >= 2."})
    health_patience: int = field(default=2, metadata={
        "help": "Judged steps in a row a condition must hold before it warns (fewer in a run too short for it)."})
    health_z: float = field(default=2.0, metadata={
        "help": "Standard errors a change between two windows must exceed to count (reward_hacking, reward_flat)."})
    health_max_zero_std_share: float = field(default=0.5, metadata={
        "help": "no_signal: the mean share of prompt groups whose completions all got the same reward."})
    health_min_entropy: float = field(default=0.15, metadata={"help": "entropy_collapse: mean token entropy."})
    health_max_clipped_ratio: float = field(default=0.5, metadata={
        "help": "clipped: the mean share of completions cut at max_completion_length."})
    health_min_reward_change: float = field(default=0.05, metadata={
        "help": "reward_flat: the change of the total reward's window mean that counts as moving (and of a role's "
                "rewards, as a share of their best value)."})

    def __post_init__(self):
        if self.health_window < 2:  # a window's mean and standard error need two steps
            raise ConfigError(f"health_window: {self.health_window}; allowed: an integer >= 2")
        if self.health_patience < 1:
            raise ConfigError(f"health_patience: {self.health_patience}; allowed: an integer >= 1")
        for key in ("health_max_zero_std_share", "health_max_clipped_ratio"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"{key}: {getattr(self, key)} is out of range; allowed: 0.0 to 1.0")
        for key in ("health_min_entropy", "health_min_reward_change", "health_z"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}: {getattr(self, key)} is out of range; allowed: >= 0")


def change(values: list[float], window: int) -> tuple[float, float] | None:
    """Mean of the last window minus the mean of the window before, and its standard error. Early in a
    run the two windows are the two halves of what was logged (None below 2 steps each)."""
    n = min(window, len(values) // 2)
    if n < 2:
        return None
    before, after = values[-2 * n : -n], values[-n:]
    error = math.sqrt(statistics.variance(before) / n + statistics.variance(after) / n)
    return statistics.fmean(after) - statistics.fmean(before), error


class HealthMonitor(TrainerCallback):
    """Reads each training log, keeps the history, warns once per kind (see the module docstring).

    `reward_roles` maps the run's reward names to their (role, best value) (rewards.REWARD_ROLES)."""

    def __init__(self, args: HealthArguments, reward_roles: dict[str, tuple[str, float]] | None = None):
        self.args = args
        self.roles = reward_roles or {}
        self.history: list[dict] = []
        self.streaks: dict[str, int] = {}
        self.holding: dict[str, str] = {}  # kind -> detail, for the conditions that hold at the latest step
        self.warnings: dict[str, dict] = {}  # kind -> {"step", "message"}

    def _warn(self, kind: str, step: int, detail: str) -> None:
        if kind in self.warnings:
            return
        message = f"{detail}; {ADVICE[kind]}"
        self.warnings[kind] = {"step": step, "message": message}
        logger.warning("training health (step %d) %s: %s", step, kind, message)

    def series(self, key: str) -> list[float]:
        return [entry[key] for entry in self.history if entry.get(key) is not None]

    def role_series(self, role: str) -> list[float]:
        """Per step, the mean of the run's rewards with this role, each as a share of its best value
        (xml_correctness pays 2.0, accuracy 1.0); steps that logged none are left out."""
        scales = {f"rewards/{name}/mean": best for name, (r, best) in self.roles.items() if r == role}
        steps = [[entry[k] / best for k, best in scales.items() if entry.get(k) is not None] for entry in self.history]
        return [statistics.fmean(values) for values in steps if values]

    def window_mean(self, key: str) -> float | None:
        values = self.series(key)[-self.args.health_window :]
        return statistics.fmean(values) if len(values) >= 2 else None

    def conditions(self) -> dict[str, str]:
        """The window conditions that hold now, each with the numbers that make it hold."""
        a, holding = self.args, {}
        n = min(a.health_window, len(self.history))
        share = self.window_mean("frac_reward_zero_std")
        if share is not None and share >= a.health_max_zero_std_share:
            holding["no_signal"] = f"{share:.0%} of prompt groups carried no signal over the last {n} steps"
        entropy = self.window_mean("entropy")
        if entropy is not None and entropy < a.health_min_entropy:
            holding["entropy_collapse"] = f"token entropy {entropy:.3f} over the last {n} steps"
        clipped = self.window_mean("completions/clipped_ratio")
        if clipped is not None and clipped > a.health_max_clipped_ratio:
            holding["clipped"] = (f"{clipped:.0%} of completions were cut at max_completion_length over the last "
                                  f"{n} steps")
        correctness = self.role_series("correctness")
        format_change, correctness_change = (change(self.role_series("format"), a.health_window),
                                             change(correctness, a.health_window))
        if format_change and correctness_change and format_change[0] > a.health_z * format_change[1] \
                and correctness_change[0] < -a.health_z * correctness_change[1]:
            holding["reward_hacking"] = (f"format reward {format_change[0]:+.3f} (± {format_change[1]:.3f}), "
                                         f"correctness {correctness_change[0]:+.3f} (± {correctness_change[1]:.3f}), "
                                         "last window vs the one before")
        reward_change = change(self.series("reward"), a.health_window)
        saturated = bool(correctness) and statistics.fmean(correctness[-a.health_window :]) >= SATURATED_CORRECTNESS
        role_moved = any(c and abs(c[0]) > max(a.health_z * c[1], a.health_min_reward_change)
                         for c in (format_change, correctness_change))
        if reward_change and abs(reward_change[0]) + a.health_z * reward_change[1] < a.health_min_reward_change \
                and "no_signal" not in holding and not saturated and not role_moved:
            holding["reward_flat"] = (f"the mean reward changed by {reward_change[0]:+.4f} (± {reward_change[1]:.4f}) "
                                      "between the last two windows")
        return holding

    def check(self, logs: dict, step: int) -> None:
        """Add one logged step's metrics and raise whatever warnings they now trip."""
        self.history.append(logs)
        self.holding = self.conditions()
        for kind in ("no_signal", "entropy_collapse", "clipped", "reward_hacking", "reward_flat"):
            self.streaks[kind] = self.streaks.get(kind, 0) + 1 if kind in self.holding else 0
            if self.streaks[kind] >= self.args.health_patience:
                self._warn(kind, step, self.holding[kind])
        if logs.get("verify/timeouts", 0) > 0:
            self._warn("verify_timeouts", step, f"{logs['verify/timeouts']:.0f} answer(s) timed out in math-verify")
        errors = {key.split("/")[1]: v for key, v in logs.items()
                  if key.startswith("rewards/") and key.endswith("/errors") and v > 0}
        if errors:
            self._warn("reward_errors", step, f"reward errors {errors}")

    def finish(self, step: int) -> list[dict]:
        """The end of the run, and every warning. A run too short for `health_patience` judgements
        (judging starts at its second step) is judged on its last step alone."""
        if len(self.history) - 1 < self.args.health_patience:
            for kind, detail in self.holding.items():
                self._warn(kind, step, detail)
        return [{"kind": kind, **warning} for kind, warning in self.warnings.items()]

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs and "reward" in logs:
            self.check(logs, state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        summary = self.finish(state.global_step)
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.output_dir) / "health.json").write_text(json.dumps(summary, indent=2))
        if not summary:
            logger.info("training health: no warnings over %d logged steps", len(self.history))
            return
        lines = "\n".join(f"  step {w['step']:>4}  {w['kind']}: {w['message']}" for w in summary)
        logger.warning("training health: %d warning(s)\n%s", len(summary), lines)
