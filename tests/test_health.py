"""helpers/health.py: each warning fires once, when its condition has held at two judged steps in a row;
a run without those patterns gets none, and so do the noisy metrics of a real healthy run; real runs that
cannot learn are told why."""

import json
import subprocess
import sys

import pytest
from conftest import FIXTURES, REPO_ROOT

import train_grpo
from helpers.config import ConfigError, parse_config
from helpers.health import HealthArguments, HealthMonitor


def healthy(step: int) -> dict:
    """A learning run's metrics: signal in most groups, varied samples, answers finished, reward rising."""
    return {"reward": 0.2 + 0.05 * step, "frac_reward_zero_std": 0.25, "entropy": 0.6,
            "completions/clipped_ratio": 0.05, "rewards/format/mean": 0.8 + 0.01 * step,
            "rewards/accuracy/mean": 0.2 + 0.04 * step, "verify/timeouts": 0, "rewards/accuracy/errors": 0}


R1_ROLES = {"accuracy": ("correctness", 1.0), "format": ("format", 1.0)}


def run(metrics: list[dict], window: int = 3, roles=None, **thresholds) -> dict:
    """The warnings (kind -> step) a monitor gives over these logged steps, the run's end included."""
    monitor = HealthMonitor(HealthArguments(health_window=window, **thresholds), R1_ROLES if roles is None else roles)
    for step, logs in enumerate(metrics, start=1):
        monitor.check(logs, step)
    return {w["kind"]: w["step"] for w in monitor.finish(len(metrics))}


def test_a_learning_run_gets_no_warning():
    assert run([healthy(step) for step in range(1, 13)]) == {}


@pytest.mark.parametrize("change,fired", [
    ({"frac_reward_zero_std": 0.9}, {"no_signal": 3}),
    ({"entropy": 0.01}, {"entropy_collapse": 3}),
    ({"completions/clipped_ratio": 0.8}, {"clipped": 3}),
])
def test_a_condition_warns_once_it_held_at_two_judged_steps_in_a_row(change, fired):
    """Judged from the second step (a window of two), warned at the second judgement in a row."""
    assert run([healthy(s) | change for s in range(1, 9)]) == fired
    # one bad step in three or four moves the window's mean, not past the threshold
    assert run([healthy(s) | (change if s % 4 == 0 else {}) for s in range(1, 9)]) == {}


def test_a_run_shorter_than_the_window_is_judged_on_the_steps_it_has():
    """GRPO on a model that never writes the tags: 3 steps, every group without signal, window 5."""
    dead = [healthy(s) | {"frac_reward_zero_std": 1.0, "reward": 0.0} for s in range(1, 4)]
    assert run(dead, window=5) == {"no_signal": 3}
    assert run(dead[:2], window=5) == {"no_signal": 2}  # too short for two judgements: its last one counts
    # a long run's last step alone is not enough
    late = [healthy(s) | ({"frac_reward_zero_std": 1.0} if s == 12 else {}) for s in range(1, 13)]
    assert run(late, window=2) == {}


def test_format_up_while_accuracy_down_is_reward_hacking():
    metrics = [healthy(s) | {"rewards/format/mean": 0.3 + 0.1 * s, "rewards/accuracy/mean": 0.6 - 0.05 * s}
               for s in range(1, 9)]
    assert run(metrics) == {"reward_hacking": 5}


def test_the_reward_roles_come_from_the_runs_rewards():
    """gsm8k_xml.yaml's rewards: the same hacking pattern under their names is caught; without roles, not."""
    metrics = [{"reward": 1.6 - 0.05 * s, "frac_reward_zero_std": 0.2, "entropy": 0.6,
                "rewards/xml_strict_format/mean": 0.05 * s,
                "rewards/xml_correctness/mean": 1.6 - 0.1 * s} for s in range(1, 9)]
    _, reward_args, *_ = parse_config(train_grpo.ARGUMENT_TYPES, ["--config", str(REPO_ROOT / "configs" /
                                                                  "gsm8k_xml.yaml"), "--use_cpu", "true"])
    roles = train_grpo.reward_roles(reward_args)  # what train_grpo.main gives the monitor
    assert roles["xml_correctness"] == ("correctness", 2.0) and roles["xml_strict_format"] == ("format", 0.5)
    assert run(metrics, roles=roles) == {"reward_hacking": 5}
    assert run(metrics, roles={}) == {}


def test_a_reward_that_does_not_move_is_flat_unless_saturated_or_without_signal_or_a_role_moved():
    wobble = {s: 0.002 if s % 2 else -0.002 for s in range(1, 9)}
    metrics = [healthy(s) | {"reward": 0.4 + wobble[s], "rewards/format/mean": 0.8 + wobble[s],
                             "rewards/accuracy/mean": 0.2 - wobble[s]} for s in range(1, 9)]
    assert run(metrics) == {"reward_flat": 5}
    # the total can stay flat while the format climbs (weight 0.25) and accuracy wobbles: not stuck
    climbing = [m | {"rewards/format/mean": 0.2 + 0.05 * s + 2 * wobble[s]} for s, m in enumerate(metrics, start=1)]
    assert run(climbing) == {}
    solved = [m | {"rewards/accuracy/mean": 0.95} for m in metrics]
    assert run(solved) == {}  # a solved task, not a stuck one
    half_solved = [m | {"rewards/accuracy/mean": 0.95} for m in metrics]  # of a reward that pays 2.0
    assert run(half_solved, roles={"accuracy": ("correctness", 2.0)}) == {"reward_flat": 5}
    # a noisy plateau (4 prompts: +-0.1 from step to step) is not evidence of flatness
    noisy = [healthy(s) | {"reward": 0.4 + (0.1 if s % 3 else -0.15)} for s in range(1, 13)]
    assert run(noisy, window=5) == {}


def test_timeouts_and_reward_errors_warn_at_the_step_they_appear():
    metrics = [healthy(s) for s in range(1, 7)]
    metrics[1] = metrics[1] | {"verify/timeouts": 2}
    metrics[3] = metrics[3] | {"rewards/accuracy/errors": 1}
    assert run(metrics) == {"verify_timeouts": 2, "reward_errors": 4}


@pytest.mark.parametrize("flag,value", [("--health_window", "1"), ("--health_max_zero_std_share", "1.5"),
                                        ("--health_min_entropy", "-1"), ("--health_patience", "0"),
                                        ("--health_z", "-2")])
def test_bad_thresholds_are_config_errors_naming_the_key(flag, value):
    with pytest.raises(ConfigError, match=flag[2:] + ": "):
        parse_config((HealthArguments,), [flag, value])


@pytest.mark.slow
def test_a_grpo_run_that_cannot_learn_is_told_why(tmp_path, smollm2_checkpoint):
    """The base model never writes the tags (accuracy and format are 0 for every completion) and
    16 tokens cut every answer short: no signal and clipped, judged from the second step, warned at the
    third; the flat reward is no_signal's consequence, not a third warning. 2 prompts x 4 completions a step
    (the demo's 4 x 8 made this test take 8 min on a 2-core AVX2 CPU beside another test)."""
    output_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "train_grpo.py", "--config", "configs/demo_r1.yaml", "--model_name_or_path",
         str(smollm2_checkpoint), "--output_dir", str(output_dir), "--max_steps", "4", "--save_strategy", "no",
         "--max_completion_length", "16", "--per_device_train_batch_size", "8", "--num_generations", "4",
         "--health_window", "2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = {w["kind"]: w["step"] for w in json.loads((output_dir / "health.json").read_text())}
    assert warnings == {"no_signal": 3, "clipped": 3}
    assert "training health: 2 warning(s)" in result.stderr
    assert "GRPO learns nothing from such groups: raise temperature or num_generations" in result.stderr


def recorded(name: str) -> list[dict]:
    """The logged metrics of a real GRPO run (tests/fixtures/health/<name>.json names its command)."""
    return json.loads((FIXTURES / "health" / f"{name}.json").read_text())["steps"]


def replay(steps: list[dict]) -> dict:
    """The warnings (kind -> step) the monitor, as the demo configures it, gives over a recorded run."""
    monitor = HealthMonitor(HealthArguments(), R1_ROLES)
    for logs in steps:
        monitor.check(logs, logs["step"])
    return {w["kind"]: w["step"] for w in monitor.finish(steps[-1]["step"])}


def test_the_demos_healthy_run_gets_no_warning():
    """15 GRPO steps after the demo's 4-step cold start: format 0.34 -> 0.75 while the 4-prompt accuracy
    reward wanders 0.00-0.09 (its held-out accuracy rose); the previous monitor said reward_hacking at step 10."""
    steps = recorded("demo_seed42")
    assert len(steps) == 15 and max(s["rewards/accuracy/mean"] for s in steps) < 0.1  # noise, not a trend
    assert replay(steps) == {}
    assert replay(recorded("demo_as_shipped")) == {}  # the demo's run on the train/test split
    # under r1_short: total reward flat (0.12 -> 0.15, weighted format), format rewards 0.25 -> 0.45, held-out
    # format 0.35 -> 0.84; the monitor said reward_flat at step 7 before a role's move counted
    assert replay(recorded("demo_short_prompt")) == {}


def test_grpo_after_a_converged_cold_start_is_told_it_has_nothing_to_learn():
    """After 16 SFT steps: entropy ~0.06-0.10 and 25-75 % of the groups without signal at every step
    (the previous monitor needed < 0.05 and > 0.75 at every step of a window, and said nothing)."""
    steps = recorded("plateau_after_16_sft_steps")
    assert all(s["entropy"] > 0.05 for s in steps) and max(s["frac_reward_zero_std"] for s in steps) <= 0.75
    warnings = replay(steps)
    assert {"entropy_collapse", "no_signal"} & set(warnings) and "reward_hacking" not in warnings
    assert min(warnings.values()) <= 3  # told early, not after the run


def test_grpo_on_the_base_model_shorter_than_the_window_is_judged():
    """4 steps, every group without signal at every step: the previous monitor ended with `no warnings
    over 4 logged steps` (its window of 5 never filled)."""
    steps = recorded("base_model_4_steps")
    assert len(steps) == 4 and all(s["frac_reward_zero_std"] == 1.0 for s in steps)
    assert replay(steps) == {"no_signal": 3, "clipped": 3}
