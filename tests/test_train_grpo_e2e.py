"""GRPO end to end on the real SmolLM2-135M-Instruct (CPU, ~1 minute)."""

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

R1_REWARDS = ["accuracy", "format", "reasoning_steps", "cosine", "repetition"]


@pytest.mark.slow
def test_two_grpo_steps_log_every_reward_and_write_a_checkpoint(tmp_path, smollm2_checkpoint):
    output_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "train_grpo.py", "--config", "configs/demo_zero.yaml", "--model_name_or_path",
         str(smollm2_checkpoint), "--output_dir", str(output_dir), "--max_steps", "2", "--save_steps", "2",
         "--max_completion_length", "48", "--reward_kwargs", '{"cosine": {"max_len": 48}}',
         "--bf16", "true"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    checkpoint = output_dir / "checkpoint-2"
    assert (checkpoint / "model.safetensors").exists() and (checkpoint / "optimizer.pt").exists()
    assert (output_dir / "model.safetensors").exists() and (output_dir / "tokenizer.json").exists()

    history = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in history if "loss" in entry]
    assert [entry["step"] for entry in steps] == [1, 2]
    for entry in steps:
        for name in R1_REWARDS:
            assert f"rewards/{name}/mean" in entry and f"rewards/{name}/std" in entry
            assert entry[f"rewards/{name}/errors"] == 0
        assert entry["verify/timeouts"] == 0
        assert 0 < entry["completions/mean_length"] <= 48
        assert -1.0 <= entry["rewards/cosine/mean"] <= 1.0
