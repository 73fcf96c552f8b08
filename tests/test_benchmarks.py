"""The benchmark scripts run and report what they claim (on CPU, at small scale)."""

import json
import statistics
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, SHARED_DATA

from scripts.bench_learning import (
    BENCHMARKS,
    COLD_START_SEED,
    cached,
    converged_start,
    gains,
    mean_scores,
    paired,
    sft_runtime,
)


def run(*args, timeout=900):
    result = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
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
def test_bench_learning_study_at_small_scale(tmp_path, smollm2_checkpoint):
    """The whole study at toy scale: SFT curve, start, filter, GRPO filtered and not, the SFT continuation,
    the filter after; every number it prints follows from the runs it made. One SFT continuation: on a 2-core
    AVX2 CPU beside another test, the run with two took longer than 15 min."""
    out, runs = tmp_path / "learning.json", tmp_path / "runs"
    run("scripts/bench_learning.py", "--sft_steps", "2", "3", "--seeds", "1", "--unfiltered_seeds", "2",
        "--eval_problems", "4", "--final_eval_problems", "6", "--eval_every", "2", "--engine", "hf",
        "--eval_max_new_tokens", "24",
        "--filter_problems", "6", "--sft_seeds", "2",
        "--filter_args", "--min_pass_rate 0 --max_pass_rate 1", "--grpo_args",
        "--max_steps 2 --per_device_train_batch_size 8 --num_generations 4 --max_completion_length 16",
        "--out", str(runs), "--json", str(out), "--png", str(tmp_path / "learning.png"), timeout=1800)
    results = json.loads(out.read_text())
    assert (tmp_path / "learning.png").read_bytes()[:4] == b"\x89PNG"
    seconds, start = results["seconds"], results["start"]
    # One SFT run saved every gcd(2, 3) = 1 steps; only the curve's checkpoints are kept.
    assert [p["step"] for p in results["sft_curve"]] == [2, 3]
    assert sorted(p.name for p in (runs / "sft").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert (start["step"], start["converged"]) == converged_start(results["sft_curve"], 0.02)
    start_model = str(runs / "sft" / f"checkpoint-{start['step']}")
    # The filter sampled the start as GRPO samples (4 generations of 16 tokens), kept every problem (any pass
    # rate) and at least one generation round (8 completions / 4 generations = 2 prompts).
    command = json.loads((runs / "filtered.record.json").read_text())["key"]["command"]
    assert [command[command.index(k) + 1] for k in ("--num_samples", "--max_new_tokens", "--min_kept")] == ["4", "16",
                                                                                                          "2"]
    before = results["filter_before"]
    assert before["model"] == start_model and before["kept"] == before["problems"] == 6
    assert sum(before["histogram"].values()) == 6 and list(before["histogram"]) == [f"{i}/4" for i in range(5)]
    for name, data in (("grpo-filtered-seed1", str(runs / "filtered.jsonl")), ("grpo-unfiltered-seed2", None)):
        command = json.loads((runs / name / "bench_run.json").read_text())["key"]["command"]
        assert command[command.index("--model_name_or_path") + 1] == start_model
        assert (command[command.index("--dataset_name") + 1] if "--dataset_name" in command else None) == data
    # The curves on 4 problems, from the start's point of the SFT curve; the table's models on 6.
    curve = results["grpo"]["1"]["curve"]
    start_point = next(p for p in results["sft_curve"] if p["step"] == start["step"])
    assert [p["step"] for p in curve] == [0, 2] and curve[0]["arithmetic"] == start_point["arithmetic"]
    assert {p["arithmetic"]["n"] for p in curve + results["sft_curve"]} == {4}
    evaluations = [json.loads(r.read_text())["key"]["command"] for r in (runs / "eval").glob("*.record.json")]
    assert len(evaluations) == 9  # base, 2 curve points, the start, 2 per GRPO run, the continuation
    assert {command[command.index("--max_new_tokens") + 1] for command in evaluations} == {"24"}  # the run's budget
    same_time = results["sft_same_time"]
    assert list(same_time) == ["2"]
    table = [start, results["grpo"]["1"]["final"], results["grpo_unfiltered"]["2"]["final"], *same_time.values()]
    assert {m[name]["n"] for m in table for name in ("arithmetic", "arithmetic_reworded")} == {6}
    assert results["problems"] == {"curves": 4, "table": 6}
    walls = [p["wall_s"] for p in curve]
    assert walls == sorted(walls) and walls[-1] == pytest.approx(seconds["filter"] + seconds["grpo-filtered-seed1"])
    assert results["grpo_unfiltered"]["2"]["curve"][-1]["wall_s"] == pytest.approx(seconds["grpo-unfiltered-seed2"])
    final = results["grpo"]["1"]["final"]
    for name in ("arithmetic", "arithmetic_reworded"):
        change, gain = final["paired"][name], final[name]["pass@1"] - start[name]["pass@1"]
        assert (change["fixed"] - change["broken"]) / 6 == pytest.approx(results["grpo_gain"][name]["mean"]) \
            == pytest.approx(gain)
        # Against the continuations' mean (here the one), per problem too.
        over_sft = final[name]["pass@1"] - same_time["2"][name]["pass@1"]
        assert results["grpo_gain_vs_sft_same_time"][name]["per_seed"] == [pytest.approx(over_sft)]
        continued = same_time["2"][name]["correct"]
        assert results["sft_same_time_mean"][name]["correct"] == [float(c) for c in continued]
        assert results["targets"][name]["vs_start"] == (gain >= 0.08)
    signals = results["grpo"]["1"]["signals"]
    assert 0 <= signals["groups_without_signal"] <= 1 and signals["entropy_first"] > 0
    # Each SFT continuation starts from the start and trains as long as filter + GRPO took: SFT's start-up
    # (as in the curve's run), then steps until the rest is spent, stopped by time, not by its max_steps;
    # on its own seed's problems.
    runtime = sft_runtime(runs / "sft")
    startup = seconds["sft"] - runtime
    assert 0 < startup < seconds["sft"]
    for seed, r in same_time.items():
        continued = runs / f"sft-continued-seed{seed}"
        assert json.loads((continued / "trainer_state.json").read_text())["global_step"] == r["steps"]
        assert 1 <= r["steps"] < r["max_steps"]
        assert sft_runtime(continued) >= seconds["filter"] + seconds["grpo-filtered-seed1"] - startup
        command = json.loads((continued / "bench_run.json").read_text())["key"]["command"]
        assert command[command.index("--model_name_or_path") + 1] == start_model
        assert command[command.index("--arithmetic_seed") + 1] == command[command.index("--seed") + 1] == seed
    # The filter again after GRPO, every problem kept: the same 6 candidates.
    after = results["filter_after"]
    assert after["model"] == str(runs / "grpo-filtered-seed1") and sum(after["histogram"].values()) == 6
    assert set(after["pass_rates"]) == set(before["pass_rates"])


def test_bench_learning_refuses_an_sft_continuation_on_the_cold_starts_data(tmp_path):
    # --start_step 7 is not on the curve: without the refusal the script would stop there, also before any
    # stage, with another message.
    result = subprocess.run([sys.executable, "scripts/bench_learning.py", "--sft_seeds", "2", str(COLD_START_SEED),
                             "--sft_steps", "1", "--start_step", "7", "--out", str(tmp_path / "runs")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"--sft_seeds: {COLD_START_SEED} is the cold start's data seed" in result.stderr
    assert not (tmp_path / "runs").exists()  # stopped before it made the output folder


def test_bench_learning_starts_rl_where_no_later_sft_point_is_better_by_the_threshold():
    def curve(*points):
        return [{"step": s, "arithmetic": {"pass@1": a}, "arithmetic_reworded": {"pass@1": b}} for s, a, b in points]

    plateau = curve((8, 0.10, 0.05), (16, 0.20, 0.10), (32, 0.21, 0.15), (64, 0.22, 0.16), (128, 0.22, 0.16))
    assert converged_start(plateau, 0.02) == (32, True)  # 16 -> 32 still adds 5 points reworded
    assert converged_start(plateau, 0.07) == (16, True)
    # A dip does not fool it: 16 -> 32 adds nothing, but 64 and 128 are better (the measured curve, 2026-12-02).
    measured = curve((8, 0.23, 0.12), (16, 0.22, 0.17), (32, 0.21, 0.14), (64, 0.28, 0.18), (128, 0.34, 0.21))
    assert converged_start(measured, 0.02) == (128, False)
    assert converged_start(measured, 0.07) == (64, True)
    # Exactly the threshold counts as better: 0.36 - 0.34 is 0.0199... in floating point.
    assert converged_start(curve((8, 0.34, 0.20), (16, 0.36, 0.20)), 0.02) == (16, False)


def test_bench_learning_gains_are_per_seed_with_the_problems_standard_error():
    def scores(*verdicts):
        return {n: {"pass@1": sum(v) / len(v), "correct": list(v)} for n, v in zip(BENCHMARKS, verdicts)}

    start = scores([1, 0, 0, 0], [0, 0, 0, 0])
    seeds = [scores([True, True, False, False], [1, 0, 0, 0]), scores([True, False, True, False], [1, 1, 0, 0])]
    assert mean_scores(seeds)["arithmetic"] == {"pass@1": 0.5, "correct": [1.0, 0.5, 0.5, 0.0]}
    gain = gains(seeds, start)
    assert gain["arithmetic"]["per_seed"] == [0.25, 0.25] and gain["arithmetic_reworded"]["per_seed"] == [0.25, 0.5]
    assert gain["arithmetic"]["mean"] == 0.25 and gain["arithmetic_reworded"]["min"] == 0.25
    # Per problem, the seeds' mean minus the start: [0, .5, .5, 0] and [1, .5, 0, 0]; stdev / sqrt(4).
    assert gain["arithmetic"]["se_problems"] == pytest.approx(statistics.stdev([0, 0.5, 0.5, 0]) / 2)
    assert gain["arithmetic_reworded"]["se_problems"] == pytest.approx(statistics.stdev([1, 0.5, 0, 0]) / 2)


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
    """A stage's command line can stay the same while a file it reads changes: the script it runs, the config
    it names, the shared code. It reruns then, and only then; a file another stage reads does not count."""
    from scripts import bench_learning

    for name in ("stage.py", "config.yaml", "shared.py", "other.py"):
        (tmp_path / name).write_text(f"# {name}\n")
    runs, record = tmp_path / "runs.txt", tmp_path / "stage.json"
    (tmp_path / "stage.py").write_text(f"open({str(runs)!r}, 'a').write('ran ')\n")
    monkeypatch.setattr(bench_learning, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(bench_learning, "COMMON_INPUTS", ["shared.py"])
    command = [sys.executable, "stage.py", "--config", "config.yaml"]
    assert bench_learning.stage_inputs(command) == ["stage.py", "config.yaml", "shared.py"]
    bench_learning.run_stage(command, record)
    bench_learning.run_stage(command, record)
    assert runs.read_text() == "ran "
    (tmp_path / "other.py").write_text("# changed\n")
    bench_learning.run_stage(command, record)
    assert runs.read_text() == "ran "
    for changed, count in (("config.yaml", 2), ("shared.py", 3), ("stage.py", 4)):
        (tmp_path / changed).write_text((tmp_path / changed).read_text() + "# changed\n")
        bench_learning.run_stage(command, record)
        assert runs.read_text() == "ran " * count, changed
    bench_learning.run_stage(command, record, also={"checkpoints_kept": [2, 3]})  # what else it depends on
    assert runs.read_text() == "ran " * 5
