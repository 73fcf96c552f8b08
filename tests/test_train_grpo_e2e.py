"""GRPO end to end on the real SmolLM2-135M-Instruct (CPU): four steps with every R1 reward, and a killed run that
resumes to the same numbers (one uninterrupted run serves both)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT

R1_REWARDS = ["accuracy", "format", "reasoning_steps", "cosine", "repetition"]


def grpo_args(model, output_dir, *extra):
    return [sys.executable, "train_grpo.py", "--config", "configs/demo_zero.yaml", "--model_name_or_path", str(model),
            "--output_dir", str(output_dir), *extra]


def history_after(run_dir, step):
    state = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    return [e for e in state if "loss" in e and e["step"] > step]


COMMON = ["--max_steps", "4", "--save_steps", "2", "--max_completion_length", "24",
          "--reward_kwargs", '{"cosine": {"max_len": 24}}']


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, smollm2_checkpoint):
    """4 GRPO steps with the R1 rewards, a checkpoint every 2, never interrupted: trained once for both tests."""
    output_dir = tmp_path_factory.mktemp("grpo") / "straight"
    result = subprocess.run(grpo_args(smollm2_checkpoint, output_dir, *COMMON), cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir


@pytest.mark.slow
@pytest.mark.precision
def test_grpo_steps_log_every_reward_and_write_checkpoints(straight_run):
    for step in (2, 4):
        checkpoint = straight_run / f"checkpoint-{step}"
        assert (checkpoint / "model.safetensors").exists() and (checkpoint / "optimizer.pt").exists()
    assert (straight_run / "model.safetensors").exists() and (straight_run / "tokenizer.json").exists()

    history = json.loads((straight_run / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in history if "loss" in entry]
    assert [entry["step"] for entry in steps] == [1, 2, 3, 4]
    for entry in steps:
        for name in R1_REWARDS:
            assert f"rewards/{name}/mean" in entry and f"rewards/{name}/std" in entry
            assert entry[f"rewards/{name}/errors"] == 0
        assert entry["verify/timeouts"] == 0
        assert 0 < entry["completions/mean_length"] <= 24
        assert -1.0 <= entry["rewards/cosine/mean"] <= 1.0


@pytest.mark.slow
@pytest.mark.precision
def test_a_killed_run_resumes_where_it_stopped(smollm2_checkpoint, straight_run, tmp_path):
    straight, crashed, common = straight_run, tmp_path / "crashed", COMMON

    proc = subprocess.Popen(grpo_args(smollm2_checkpoint, crashed, *common), cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = crashed / "checkpoint-2" / "trainer_state.json"
    deadline = time.monotonic() + 600
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # let the checkpoint's last file land
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker.exists() and not (crashed / "checkpoint-4").exists(), "the run was not killed mid-way"

    resumed = subprocess.run(grpo_args(smollm2_checkpoint, crashed, *common, "--resume_from_checkpoint", "auto"),
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after_straight, after_resume = history_after(straight, 2), history_after(crashed, 2)
    assert [e["step"] for e in after_resume] == [e["step"] for e in after_straight] == [3, 4]
    for a, b in zip(after_straight, after_resume):
        for key in ("loss", "reward", "completions/mean_length", "rewards/cosine/mean", "rewards/repetition/mean"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (key, a["step"])
