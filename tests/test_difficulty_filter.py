"""scripts/difficulty_filter.py: which problems GRPO gets, by the pass rate of a model's samples."""

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, SMALL_VERIFY_POOL, answer

from data import DataArguments, load_rl_dataset
from helpers.generation import Sample
from helpers.sampling import command_line_keys, grpo_filter_args, sampling_args_for
from rewards import get_reward_funcs
from scripts import difficulty_filter


def test_pass_rates_count_every_sample_and_the_histogram_bins_them():
    prompts = [[{"role": "user", "content": q}] for q in ("2+2?", "3+3?", "4+4?")]
    samples = [[answer("4"), answer("4"), answer("5"), Sample("4", 1)],  # duplicates count; no tags fails format
               [answer("6")] * 4, [answer("1")] * 4]
    funcs = get_reward_funcs(["accuracy", "format"])
    rates = difficulty_filter.pass_rates(prompts, ["4", "6", "8"], samples, funcs, 1.0)
    assert rates == [0.5, 1.0, 0.0]
    assert difficulty_filter.histogram(rates, 4) == {"0/4": 1, "1/4": 0, "2/4": 1, "3/4": 0, "4/4": 1}


@pytest.mark.parametrize("args,message", [
    (["--min_pass_rate", "0.8", "--max_pass_rate", "0.2"], "min_pass_rate, max_pass_rate: 0.8, 0.2; allowed: 0.0 <="),
    (["--max_pass_rate", "1.5"], "allowed: 0.0 <= min_pass_rate <= max_pass_rate <= 1.0"),
    (["--num_samples", "1"], "num_samples: 1 is out of range; allowed: >= 2"),
    (["--temperature", "0"], "temperature: 0.0 is out of range; allowed: > 0"),
    (["--accept_rewards", "acuracy"], "accept_rewards: unknown reward(s) ['acuracy']"),
    (["--output", "filtered.json"], "output: 'filtered.json' must end in .jsonl"),
    (["--min_kept", "0"], "min_kept: 0 is out of range; allowed: >= 1, or unset"),
])
def test_a_bad_key_is_a_config_error_before_any_model_loads(args, message):
    result = subprocess.run([sys.executable, "scripts/difficulty_filter.py", "--model", "/nonexistent",
                             "--dataset_name", "arithmetic", "--arithmetic_size", "4", *args], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("config error:") and message in result.stderr


def test_grpo_config_samples_as_that_run_draws_and_the_command_line_wins():
    args = sampling_args_for(str(REPO_ROOT / "configs" / "demo_r1.yaml"), ["--temperature", "1.2", "--max_steps", "3",
                                                                          "--max_completion_length=64"])
    pairs = dict(zip(args[::2], args[1::2]))
    assert pairs["--num_samples"] == "8" and pairs["--max_new_tokens"] == "64"  # num_generations, max_completion_length
    assert pairs["--temperature"] == "1.2" and "--max_steps" not in pairs  # the run's override; not a sampling key
    assert (pairs["--dataset_name"], pairs["--arithmetic_seed"], pairs["--prompt_template"]) == ("arithmetic", "1",
                                                                                                  "r1_short")
    assert command_line_keys(["--a", "1", "--b=2", "--c", "x", "y", "--flag", "--d-e", "3"]) == {
        "a": "1", "b": "2", "c": ["x", "y"], "flag": "true", "d_e": "3"}
    # One generation round of prompts, as TRL derives it from the run's keys (64 completions / 8 generations).
    assert grpo_filter_args(str(REPO_ROOT / "configs" / "demo_r1.yaml"), ["--per_device_train_batch_size", "64"])[-2:] \
        == ["--min_kept", "8"]
    result = subprocess.run([sys.executable, "scripts/difficulty_filter.py", "--grpo_config", "configs/demo_r1.yaml",
                             "--model", "/nonexistent", "--arithmetic_size", "12", "--num_samples",
                             "4", "--check_only", "true"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "12 problems x 4 samples" in result.stdout
    missing = subprocess.run([sys.executable, "scripts/difficulty_filter.py", "--model", "m",
                              "--grpo_config=configs/none.yaml"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 1 and "config error: grpo_config: configs/none.yaml is not a file" in missing.stderr


@pytest.mark.slow
def test_filtering_the_demo_cold_start_keeps_the_problems_it_sometimes_writes_in_the_format(tmp_path, demo_sft_model):
    """The real SmolLM2 after the demo's 4-step cold start writes the format on some samples of a problem:
    the file keeps exactly the problems in the range, in the source schema, and train_grpo.py reads it."""
    output = tmp_path / "filtered.jsonl"
    data = ["--dataset_name", "arithmetic", "--arithmetic_size", "12", "--arithmetic_seed", "1",
            "--prompt_template", "r1_short"]
    result = subprocess.run([sys.executable, "scripts/difficulty_filter.py", "--model", str(demo_sft_model), *data,
                             "--num_samples", "4", "--max_new_tokens", "64", "--accept_rewards", "format",
                             "--min_pass_rate", "0.25", "--max_pass_rate", "0.75", "--backend", "hf",
                             "--output", str(output)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads(output.with_suffix(".json").read_text())
    assert stats["problems"] == 12 and sum(stats["histogram"].values()) == 12
    in_range = stats["histogram"]["1/4"] + stats["histogram"]["2/4"] + stats["histogram"]["3/4"]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == stats["kept"] == in_range > 0, stats  # measured: 6 of the 12 problems
    assert all(0.25 <= r["pass_rate"] <= 0.75 and {"question", "answer", "key"} <= set(r) for r in rows)
    assert output.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert f"--dataset_name {output} --dataset_format gsm8k" in result.stdout

    problems = load_rl_dataset(DataArguments(dataset_name=str(output), dataset_format="gsm8k",
                                             prompt_template="r1_short"))
    assert len(problems) == len(rows)
    check = subprocess.run([sys.executable, "train_grpo.py", "--config", "configs/demo_r1.yaml", "--model_name_or_path",
                            str(demo_sft_model), "--dataset_name", str(output), "--dataset_format", "gsm8k",
                            "--output_dir", str(tmp_path / "grpo"), "--check_only", "true"], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]


def test_a_filter_that_keeps_nothing_fails_after_writing_its_histogram(tmp_path):
    """An empty file would only fail later, in train_grpo.py: the filter says so itself, histogram written."""
    class AlwaysWrong:
        def generate(self, prompts, n, max_new_tokens, temperature, seed):
            return [[answer("-1")] * n for _ in prompts]

    output = tmp_path / "filtered.jsonl"
    args = difficulty_filter.FilterArguments(model="scripted", num_samples=4, output=str(output), **SMALL_VERIFY_POOL)
    with pytest.raises(SystemExit, match="kept none of 5 problems: no pass rate in 0.1-0.9"):
        difficulty_filter.main(args, DataArguments(dataset_name="arithmetic", arithmetic_size=5),
                               generator=AlwaysWrong())
    assert json.loads(output.with_suffix(".json").read_text())["histogram"]["0/4"] == 5
    assert output.read_text() == ""


def test_min_kept_writes_every_candidate_when_too_few_pass_rates_are_in_range(tmp_path, capsys):
    """A GRPO run needs one generation round of prompts (generation_batch_size / num_generations): below `min_kept` the
    file gets every candidate (and says so), so the run reading it still trains."""
    class RightHalfTheTimeOnTheFirstProblem:  # pass rates 2/4, 0, 0, 0, 0
        def __init__(self, gold):
            self.gold = gold

        def generate(self, prompts, n, max_new_tokens, temperature, seed):
            return [[answer(self.gold)] * 2 + [answer("-1")] * 2 if i == 0 else [answer("-1")] * n
                    for i in range(len(prompts))]

    data = DataArguments(dataset_name="arithmetic", arithmetic_size=5)
    generator = RightHalfTheTimeOnTheFirstProblem(load_rl_dataset(data)[0]["solution"])
    for min_kept, kept, every in ((None, 1, False), (1, 1, False), (4, 5, True)):
        output = tmp_path / f"filtered{min_kept}.jsonl"
        args = difficulty_filter.FilterArguments(model="scripted", num_samples=4, output=str(output), min_kept=min_kept,
                                                 **SMALL_VERIFY_POOL)
        stats = difficulty_filter.main(args, data, generator=generator)
        assert (stats["kept"], stats["in_range"], stats["every_candidate"]) == (kept, 1, every)
        assert len(output.read_text().splitlines()) == kept
        assert ("WARNING: only 1 of 5 problems" in capsys.readouterr().out) == every
