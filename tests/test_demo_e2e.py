"""The CPU demo (scripts/demo.sh) end to end on the real SmolLM2-135M-Instruct, at a small budget: every stage,
the table, the example and the curves. Whether the demo's GRPO stage learns is measured by the benchmark
(scripts/bench_learning.py, docs/learning.md), not here: at the demo's full budget this test took 13 min (AVX512-BF16)
to 37 min (AVX2 only) of CI, and a 2-step run's numbers say nothing about learning."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from helpers.config import ConfigError, cpu_supports_bf16
from scripts import demo_estimate
from scripts.demo_estimate import REFERENCE, reference_for
from scripts.demo_report import filter_summary

BENCHMARKS = ("arithmetic", "arithmetic_reworded")


def held_out(out, stage) -> dict:
    return json.loads((out / "eval" / f"{stage}.json").read_text())["benchmarks"]


def formatted(out, stage) -> int:
    """Held-out answers the stage's model writes in the format, both wordings together."""
    return sum(round(m["format_rate"] * m["n"]) for m in held_out(out, stage).values())


@pytest.mark.slow  # not `precision`: run twice, it would cost CI more than it checks
def test_the_demo_runs_every_stage_and_prints_the_table_example_and_curves(tmp_path, smollm2_checkpoint):
    out = tmp_path / "demo"
    # 4 SFT steps instead of the demo's 32; the filter keeps all 8 candidates (every pass rate); GRPO 2 steps of
    # 2 prompts x 4 completions of <= 32 tokens, which the filter samples as (4 per problem, 32 tokens). With the
    # demo's 4 x 8 of <= 96 this test took ~11 min on a 2-core AVX2 CPU, 6 min 12 s so.
    env = os.environ | {"OUT": str(out), "EVAL_PROBLEMS": "8", "SFT_ARGS": "--max_steps 4", "FILTER_PROBLEMS": "8",
                        "FILTER_ARGS": "--min_pass_rate 0 --max_pass_rate 1"}
    grpo = ["--max_steps", "2", "--per_device_train_batch_size", "8", "--num_generations", "4",
            "--max_completion_length", "32"]
    run = subprocess.run(["bash", "scripts/demo.sh", *grpo], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    for stage in ("base", "sft", "grpo"):
        assert sorted(held_out(out, stage)) == sorted(BENCHMARKS)
        assert all(m["n"] == 8 for m in held_out(out, stage).values())
    # Robust at any budget: SmolLM2 never writes the tags on its own, 4 SFT steps teach them on
    # some problems (measured: 0 of 200 before, 50 of 200 after).
    assert formatted(out, "base") <= 1 < formatted(out, "sft"), (formatted(out, "base"), formatted(out, "sft"))

    # GRPO trained on the filter's output, whose counts the report prints.
    filtered = json.loads((out / "filtered.json").read_text())
    assert filtered["model"] == str(out / "sft") and filtered["kept"] == filtered["problems"] == 8
    assert sum(filtered["histogram"].values()) == 8 and list(filtered["histogram"]) == [f"{i}/4" for i in range(5)]
    assert f"8 training prompts from {out / 'filtered.jsonl'}" in run.stderr
    assert "GRPO trained on the 8 with a pass rate in 0.00-1.00" in run.stdout
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    steps = [e for e in history if "reward" in e]
    assert [e["step"] for e in steps] == [1, 2]
    for entry in steps:
        assert entry["rewards/accuracy/errors"] == 0 and entry["rewards/format/errors"] == 0
    assert (out / "model.safetensors").exists() and (out / "curves.png").read_bytes()[:4] == b"\x89PNG"

    # One compact line per step, the estimate, the table and the side-by-side example; no metrics dicts.
    assert "step    2/2 [" in run.stdout and "{'loss'" not in run.stdout
    assert "estimated time from here: ~" in run.stdout and "(3 x 8 problems, 2 wordings)" in run.stdout
    assert "| stage | format rate | accuracy | accuracy, reworded | mean length (tokens) |" in run.stdout
    assert "--- base model" in run.stdout and "--- after grpo" in run.stdout


def test_the_report_says_what_grpo_trained_on():
    stats = {"problems": 120, "kept": 37, "in_range": 37, "every_candidate": False, "pass_rate_range": [0.1, 0.9],
             "histogram": {"0/2": 50, "1/2": 37, "2/2": 33}}
    assert filter_summary(stats) == ("difficulty filter, 120 candidate problems by samples passed (0/2: 50 1/2: 37 "
                                     "2/2: 33): GRPO trained on the 37 with a pass rate in 0.10-0.90")
    fallback = stats | {"kept": 120, "in_range": 2, "every_candidate": True}
    assert filter_summary(fallback).endswith("only 2 had a pass rate in 0.10-0.90, too few for a step: GRPO trained "
                                             "on all 120 candidates")


def test_a_bad_override_stops_the_demo_before_any_evaluation(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run(["bash", "scripts/demo.sh", "--learning_rate", "abc"], cwd=REPO_ROOT,
                         env=os.environ | {"OUT": str(out)}, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "invalid float value: 'abc'" in run.stderr
    assert "=== evaluate" not in run.stdout and not (out / "eval").exists()


def test_a_bad_sft_argument_stops_the_demo_before_any_evaluation(tmp_path):
    env = os.environ | {"OUT": str(tmp_path / "demo"), "SFT_ARGS": "--max_stepz 3"}
    run = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 0 and "unknown key(s): 'max_stepz'" in run.stderr
    assert "=== evaluate" not in run.stdout


@pytest.mark.parametrize("args,sft_args", [(["--prompt_template", "r1_zero"], ""), ([], "--prompt_template r1_zero"),
                                           (["--prompt_template=r1_zero"], ""), (["--prompt-template", "r1_zero"], ""),
                                           ([], "--prompt_templates_file my.yaml")])
def test_a_prompt_template_override_stops_the_demo_before_any_evaluation(tmp_path, args, sft_args):
    """Evaluation reads the template from both configs: an override would evaluate under another one."""
    env = os.environ | {"OUT": str(tmp_path / "demo"), "SFT_ARGS": sft_args}
    run = subprocess.run(["bash", "scripts/demo.sh", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 0
    assert "config error: prompt_template, prompt_templates_file: set them in configs/demo_sft.yaml" in run.stderr
    assert "=== evaluate" not in run.stdout


@pytest.mark.parametrize("name,value,allowed", [("EVAL_PROBLEMS", "ten", "at least 1"),
                                                ("FILTER_PROBLEMS", "3", "at least 4")])
def test_a_bad_demo_setting_stops_the_demo_before_any_evaluation(tmp_path, name, value, allowed):
    """FILTER_PROBLEMS must hold one GRPO generation round of prompts (4 in configs/demo_r1.yaml)."""
    env = os.environ | {"OUT": str(tmp_path / "demo"), name: value}
    run = subprocess.run(["bash", "scripts/demo.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 0
    assert f"config error: {name}: '{value}' is not a whole number of {allowed}" in run.stderr
    assert "=== evaluate" not in run.stdout and not (tmp_path / "demo" / "eval").exists()


def test_an_empty_demo_setting_means_its_default_as_in_bash(monkeypatch):
    from scripts.demo_check import positive_int

    monkeypatch.setenv("EVAL_PROBLEMS", "")
    assert positive_int("EVAL_PROBLEMS") == 100
    for bad in ("12 ", "+12", "1e3", "٣"):  # int() takes the first two; str.isdigit() the last (an Arabic-Indic digit)
        monkeypatch.setenv("EVAL_PROBLEMS", bad)
        with pytest.raises(ConfigError, match="not a whole number"):
            positive_int("EVAL_PROBLEMS")


def test_the_demo_check_hands_the_settings_to_bash_as_they_were():
    """demo.sh evals these lines: every value, spaces and quotes included, must come back unchanged."""
    from scripts.demo_check import shell_assignments  # here: importing it imports the training scripts

    settings = {"TEMPLATE": "r1_short", "FILTER": ["--output", "out dir/it's.jsonl", "--temperature", "1.0"]}
    script = shell_assignments(settings) + '\nprintf "%s\\n" "$TEMPLATE" "${#FILTER[@]}" "${FILTER[@]}"'
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["r1_short", "4", *settings["FILTER"]]


@pytest.mark.precision
def test_the_estimate_names_the_precision_and_grows_with_the_run():
    def estimate(*args):
        env = {k: v for k, v in os.environ.items() if k not in ("EVAL_PROBLEMS", "FILTER_PROBLEMS")}
        run = subprocess.run([sys.executable, "-m", "scripts.demo_estimate", *args], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=120, env=env | {"OUT": "/nonexistent"})
        assert run.returncode == 0, run.stderr[-2000:]
        precision, line = run.stdout.splitlines()[-2:]
        assert "(3 x 100 problems, 2 wordings)" in line and "(960 samples)" in line  # demo_check's defaults
        return precision, float(line.split("~")[1].split(" min")[0])

    precision, minutes = estimate()
    assert precision.startswith("precision: bf16" if cpu_supports_bf16() else "precision: fp32") and minutes > 0
    assert estimate("--max_steps", "40")[1] > minutes
    assert estimate("--bf16", "false")[0].startswith("precision: fp32 compute")


def test_the_estimate_takes_the_reference_measured_on_this_kind_of_cpu_and_falls_back_by_precision():
    """Machines without AMX ran the demo 2.0x slower than one with it at 0.17x its bf16 matmul rate, so scaling
    across kinds by the matmul rate alone said 80 min for a 27-minute run: the estimate reads its own kind."""
    assert reference_for("bf16", "vllm", "amx")[0] == ("bf16", "vllm", "amx")
    assert reference_for("bf16", "vllm", "avx512_bf16")[0] == ("bf16", "vllm", "avx512_bf16")
    assert reference_for("bf16", "hf", "amx")[0] == ("bf16", "hf", "avx512_bf16")  # vLLM not installed
    assert reference_for("fp32", "vllm", "avx512_bf16")[0] == ("fp32", "hf", "avx2")  # R1_CPU_BF16=0: fp32, hf only
    assert reference_for("bf16", "vllm", "avx2")[0] == ("bf16", "vllm", "avx512_bf16")  # R1_CPU_BF16=1: nearest
    assert len({tuple(sorted(ref)) for ref in REFERENCE.values()}) == 1  # every entry has every field
    assert {("bf16", "hf"), ("fp32", "hf")} <= {key[:2] for key in REFERENCE}  # every fallback exists


@pytest.mark.parametrize("flags,isa,kind", [
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "", "amx"),
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "avx512_core_amx", "amx"),
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AVX512_CORE_BF16", "avx512_bf16"),  # AMX switched off
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AVX2", "avx2"),
    ({"avx2", "avx512f", "avx512_bf16"}, "", "avx512_bf16"),
    ({"avx2", "avx512f"}, "", "avx2"),  # AVX-512 without bf16 instructions: bf16 is emulated, as on AVX2
    ({"avx2"}, "", "avx2"),
])
def test_the_kind_of_cpu_comes_from_its_flags_and_the_onednn_limit(monkeypatch, flags, isa, kind):
    monkeypatch.setattr(demo_estimate, "cpu_flags", lambda: flags)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert demo_estimate.cpu_kind() == kind


def test_the_estimate_accepts_every_key_train_grpo_accepts():
    """`bash scripts/demo.sh --health_monitor false` (a README switch) passes its arguments to the estimate too."""
    run = subprocess.run([sys.executable, "-m", "scripts.demo_estimate", "--health_monitor", "false", "--health_window",
                          "3"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env=os.environ | {"OUT": "/nonexistent"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "estimated time from here" in run.stdout
