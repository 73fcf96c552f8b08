"""GRPO and SFT through `accelerate launch` with 2 CPU processes (gloo): the multi-GPU code path."""

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


def launch(*args):
    result = subprocess.run([*LAUNCH, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def logged_steps(run_dir):
    return [e for e in json.loads((run_dir / "trainer_state.json").read_text())["log_history"] if "loss" in e]


@pytest.mark.slow
def test_grpo_on_two_processes(tmp_path, smollm2_checkpoint):
    # 2 completions per process with num_generations 4: valid only if two processes share a group.
    launch("train_grpo.py", "--config", "configs/demo_zero.yaml", "--model_name_or_path", str(smollm2_checkpoint),
           "--output_dir", str(tmp_path), "--max_steps", "2", "--save_steps", "2", "--max_completion_length", "8",
           "--per_device_train_batch_size", "2")
    assert [e["step"] for e in logged_steps(tmp_path)] == [1, 2]
    assert (tmp_path / "checkpoint-2" / "model.safetensors").exists()


@pytest.mark.slow
def test_sft_on_two_processes(tmp_path, smollm2_checkpoint):
    launch("train_sft.py", "--config", "configs/demo_sft.yaml", "--model_name_or_path", str(smollm2_checkpoint),
           "--output_dir", str(tmp_path), "--max_steps", "1", "--save_steps", "1", "--per_device_train_batch_size", "1",
           "--arithmetic_size", "2", "--logging_steps", "1")
    (step,) = logged_steps(tmp_path)
    assert step["epoch"] == 1.0  # 2 examples, 1 per process: one step is a whole epoch only with 2 processes
    assert (tmp_path / "model.safetensors").exists()
