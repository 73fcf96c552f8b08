"""The benchmark scripts run and report what they claim (on CPU, at small scale)."""

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, SHARED_DATA


def run(*args):
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_bench_rewards_agrees_with_trl_on_real_answers(tmp_path):
    out = tmp_path / "rewards.json"
    run("scripts/bench_rewards.py", "--per_benchmark", "20", "--verify_workers", "2", "--data_dir", str(SHARED_DATA),
        "--output", str(out))
    result = json.loads(out.read_text())
    assert result["completions"] == 80
    # Where the two differ, TRL rejects a correct shorthand such as \frac43; ours is never the wrong side.
    assert result["disagreements_trl_right"] == 0, result["disagreement_examples"]
    assert result["disagreements"] == result["disagreements_ours_right"]
    assert result["trl_accuracy_per_s"] > 0 and result["our_accuracy_per_s"] > 0
    assert result["configured_list_completions_per_s"] > 0


@pytest.mark.slow
def test_bench_grpo_step_tiny_on_cpu(tmp_path):
    out = tmp_path / "grpo.json"
    run("scripts/bench_grpo_step.py", "--tiny", "--steps", "2", "--variants", "base", "gc", "--output", str(out))
    results = json.loads(out.read_text())
    assert [r["variant"] for r in results] == ["base", "gc"]
    for r in results:
        assert r["step_s"] > 0 and len(r["step_times_s"]) == 2
        assert r["completion_tokens_per_s"] == pytest.approx(4 * 16 / r["step_s"])
