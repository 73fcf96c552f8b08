"""The benchmark scripts run and report what they claim (on CPU, at small scale)."""

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, SHARED_DATA

from scripts.bench_learning import cached, paired, sft_runtime


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


@pytest.mark.slow
def test_bench_learning_curve_and_baseline_at_small_scale(tmp_path, smollm2_checkpoint):
    out = tmp_path / "learning.json"
    run("scripts/bench_learning.py", "--seeds", "1", "2", "--eval_problems", "4", "--eval_every", "1", "--engine", "hf",
        "--sft_args", "--max_steps 2", "--grpo_args",
        "--max_steps 2 --per_device_train_batch_size 8 --num_generations 4 --max_completion_length 16",
        "--out", str(tmp_path / "runs"), "--json", str(out), "--png", str(tmp_path / "learning.png"))
    results = json.loads(out.read_text())
    assert (tmp_path / "learning.png").read_bytes()[:4] == b"\x89PNG"
    sft, seconds = results["sft"], results["seconds"]
    for seed in ("1", "2"):
        curve = results["grpo"][seed]["curve"]
        assert [p["step"] for p in curve] == [0, 1, 2] and curve[0]["arithmetic"] == sft["arithmetic"]
        walls = [p["wall_s"] for p in curve]
        assert walls == sorted(walls) and walls[-1] == pytest.approx(seconds["sft"] + seconds[f"grpo-seed{seed}"])
        final = results["grpo"][seed]["final"]
        for name in ("arithmetic", "arithmetic_reworded"):
            change, gain = final["paired"][name], final[name]["pass@1"] - sft[name]["pass@1"]
            assert (change["fixed"] - change["broken"]) / 4 == pytest.approx(gain)
            assert len(final[name]["correct"]) == 4
        assert results["grpo_gain"]["arithmetic"]["per_seed"][int(seed) - 1] == pytest.approx(
            final["arithmetic"]["pass@1"] - sft["arithmetic"]["pass@1"])
    # The SFT-only baseline trains as long as SFT + GRPO did: SFT's start-up once, then its price per step.
    grpo_mean = (seconds["grpo-seed1"] + seconds["grpo-seed2"]) / 2
    runtime = sft_runtime(tmp_path / "runs" / "sft")  # 2 steps
    startup = seconds["sft"] - runtime
    assert 0 < startup < seconds["sft"]
    assert results["sft_same_time"]["steps"] == round((seconds["sft"] + grpo_mean - startup) / (runtime / 2)) > 2


def test_bench_learning_redoes_a_stage_whose_command_changed_and_pairs_only_equal_problem_lists(tmp_path):
    record = tmp_path / "run.record.json"
    key = {"command": ["evaluate.py", "--limit", "100"], "after": {"key": "the SFT run", "seconds": 30.0}}
    record.write_text(json.dumps({"key": key}))
    assert cached(key, record)
    assert not cached(key | {"command": ["evaluate.py", "--limit", "20"]}, record)
    assert not cached(key | {"after": {"key": "the SFT run", "seconds": 31.0}}, record)  # SFT was redone
    assert not cached(key, tmp_path / "missing.json")
    scores = {name: {"correct": [True, False, False]} for name in ("arithmetic", "arithmetic_reworded")}
    assert paired(scores, {name: {"correct": [False, True, True]} for name in scores})["arithmetic"] == {
        "fixed": 2, "broken": 1}
    with pytest.raises(ValueError, match="3 problems before, 2 after"):
        paired(scores, {name: {"correct": [True, True]} for name in scores})


def test_bench_learning_redoes_a_stage_when_a_file_it_reads_changed(tmp_path, monkeypatch):
    """A stage's command line can stay the same while its config changes (a config's prompt template): it reruns."""
    from scripts import bench_learning

    config, runs, record = tmp_path / "config.yaml", tmp_path / "runs.txt", tmp_path / "stage.json"
    config.write_text("prompt_template: r1_zero\n")
    monkeypatch.setattr(bench_learning, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(bench_learning, "INPUTS", ["config.yaml"])
    command = [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('ran ')"]
    bench_learning.run_stage(command, record)
    bench_learning.run_stage(command, record)
    assert runs.read_text() == "ran "
    config.write_text("prompt_template: r1_short\n")
    bench_learning.run_stage(command, record)
    assert runs.read_text() == "ran ran "
