"""The CPU demo (scripts/demo.sh) end to end at reduced scale, on the real SmolLM2-135M-Instruct (~5 minutes)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from helpers.config import cpu_supports_bf16


def held_out(out, stage):
    return json.loads((out / "eval" / f"{stage}.json").read_text())["benchmarks"]["arithmetic"]


@pytest.mark.slow
@pytest.mark.precision
def test_sft_teaches_the_format_and_grpo_trains_on_the_sft_model(tmp_path, smollm2_checkpoint):
    out = tmp_path / "demo"
    env = os.environ | {"OUT": str(out), "EVAL_PROBLEMS": "32", "SFT_ARGS": "--max_steps 16"}
    run = subprocess.run(["bash", "scripts/demo.sh", "--max_steps", "2", "--save_steps", "2"], cwd=REPO_ROOT,
                         env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    base, sft, grpo = held_out(out, "base"), held_out(out, "sft"), held_out(out, "grpo")
    assert base["format_rate"] < 0.1  # SmolLM2 never writes the tags on its own
    assert sft["format_rate"] >= 0.8 and sft["pass@1"] > base["pass@1"]
    assert grpo["n"] == 32

    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    steps = [e for e in history if "reward" in e]
    assert [e["step"] for e in steps] == [1, 2]
    for entry in steps:
        for name in ("accuracy", "format"):
            assert f"rewards/{name}/mean" in entry and entry[f"rewards/{name}/errors"] == 0
        assert entry["rewards/format/mean"] > 0.5  # GRPO starts from the SFT model, which writes the format
    assert (out / "model.safetensors").exists() and (out / "curves.png").read_bytes()[:4] == b"\x89PNG"

    # One compact line per step, the table and the side-by-side example; no metrics dicts.
    assert "step    2/2 [" in run.stdout and "{'loss'" not in run.stdout
    assert "| stage | format rate | accuracy | mean length (tokens) |" in run.stdout
    assert "--- base model" in run.stdout and "--- after grpo" in run.stdout


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


@pytest.mark.precision
def test_the_estimate_names_the_precision_and_grows_with_the_run():
    def estimate(*args):
        run = subprocess.run([sys.executable, "scripts/demo_estimate.py", *args], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=120, env=os.environ | {"OUT": "/nonexistent"})
        assert run.returncode == 0, run.stderr[-2000:]
        precision, line = run.stdout.splitlines()[-2:]
        return precision, float(line.split("~")[1].split(" min")[0])

    precision, minutes = estimate()
    assert precision.startswith("precision: bf16" if cpu_supports_bf16() else "precision: fp32") and minutes > 0
    assert estimate("--max_steps", "40")[1] > minutes
    assert estimate("--bf16", "false")[0].startswith("precision: fp32 compute")
