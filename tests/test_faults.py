"""Resume after a crash, checkpoint/generation-round alignment, and non-finite losses."""

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT
from transformers import TrainerControl, TrainerState
from trl import GRPOConfig

from scripts.run_setup import ConfigError, StopOnNonFinite, check_save_steps, resolve_checkpoint


def grpo_args(model, output_dir, *extra):
    return [sys.executable, "train_grpo.py", "--config", "configs/demo_zero.yaml", "--model_name_or_path", str(model),
            "--output_dir", str(output_dir), *extra]


@pytest.mark.parametrize("save_steps,grad_accum,steps_per_generation,num_iterations,ok", [
    (10, 4, None, 1, True),  # one generation round per optimizer step: any save_steps
    (3, 1, 2, 1, False), (4, 1, 2, 1, True),
    (1, 2, 4, 1, False), (2, 2, 4, 1, True),
    (2, 1, 1, 2, True), (1, 1, 1, 2, False),
])
def test_save_steps_must_end_a_generation_round(tmp_path, save_steps, grad_accum, steps_per_generation,
                                                num_iterations, ok):
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, save_steps=save_steps,
                      gradient_accumulation_steps=grad_accum, steps_per_generation=steps_per_generation,
                      num_iterations=num_iterations, per_device_train_batch_size=8, num_generations=8)
    if ok:
        check_save_steps(args)
    else:
        with pytest.raises(ConfigError, match=r"save_steps: .* generation round .* Use a multiple of \d+"):
            check_save_steps(args)


def test_resume_auto_finds_the_newest_checkpoint(tmp_path):
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, resume_from_checkpoint="auto")
    assert resolve_checkpoint(args) is None  # nothing yet: a fresh start
    for step in (2, 10, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
    assert resolve_checkpoint(args) == str(tmp_path / "checkpoint-10")
    args.resume_from_checkpoint = str(tmp_path / "missing")
    with pytest.raises(ConfigError, match="resume_from_checkpoint: .* is not a folder"):
        resolve_checkpoint(args)


def test_a_non_finite_loss_stops_the_run_and_is_reported(tmp_path, caplog):
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True)
    state, control = TrainerState(global_step=7), TrainerControl()
    callback = StopOnNonFinite()
    callback.on_log(args, state, control, logs={"loss": 0.5, "grad_norm": 1.0})
    assert not control.should_training_stop and callback.bad_step is None
    with caplog.at_level(logging.ERROR):
        callback.on_log(args, state, control, logs={"loss": math.nan, "grad_norm": math.inf})
    assert control.should_training_stop and callback.bad_step == 7
    assert "non-finite" in caplog.text and "step 7" in caplog.text
    with pytest.raises(SystemExit, match="training stopped at step 7: the loss or gradient became non-finite"):
        callback.exit_if_stopped(str(tmp_path))


@pytest.mark.parametrize("logging_steps", [1, 10])
def test_no_checkpoint_is_written_after_a_non_finite_step(tiny_model, tmp_path, logging_steps):
    """A real SFTTrainer whose weights hold a NaN: the run stops at step 1 and writes no
    checkpoint-1, whether the NaN loss is logged at that step or only the weights show it."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from scripts.run_setup import train_and_save

    row = {"prompt": [{"role": "user", "content": "1+1?"}], "completion": [{"role": "assistant", "content": "2"}]}
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=3, save_steps=1,
                     logging_steps=logging_steps, per_device_train_batch_size=2)
    non_finite = StopOnNonFinite()
    trainer = SFTTrainer(model=str(tiny_model), args=args, train_dataset=Dataset.from_list([row] * 8),
                         callbacks=[non_finite])
    with torch.no_grad():
        next(trainer.model.parameters()).view(-1)[0] = math.nan
    with pytest.raises(SystemExit, match="training stopped at step 1"):
        train_and_save(trainer, None, non_finite)
    assert not list(tmp_path.glob("checkpoint-*")) and not (tmp_path / "model.safetensors").exists()


def test_a_reward_that_keeps_failing_ends_the_run_with_a_message(tiny_model, tmp_path):
    """RewardFailure (a reward raised on several batches in a row) leaves train() as a clear exit, no model saved."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from rewards import RewardFailure
    from scripts.run_setup import train_and_save

    class FailingReward(TrainerCallback):  # where GRPOTrainer calls the rewards: inside a training step
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise RewardFailure("reward 'accuracy' raised on 3 batches in a row, last: OSError: pool gone")

    row = {"prompt": [{"role": "user", "content": "1+1?"}], "completion": [{"role": "assistant", "content": "2"}]}
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=4, save_strategy="no",
                     per_device_train_batch_size=2)
    trainer = SFTTrainer(model=str(tiny_model), args=args, train_dataset=Dataset.from_list([row] * 8),
                         callbacks=[FailingReward()])
    with pytest.raises(SystemExit, match=r"training stopped at step 2: reward 'accuracy' raised on 3 batches in a "
                                         r"row, last: OSError: pool gone; the model was not saved"):
        train_and_save(trainer, None, StopOnNonFinite())
    assert not (tmp_path / "model.safetensors").exists()


def history_after(run_dir, step):
    state = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    return [e for e in state if "loss" in e and e["step"] > step]


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(smollm2_checkpoint, tmp_path):
    common = ["--max_steps", "4", "--save_steps", "2", "--max_completion_length", "24",
              "--reward_kwargs", '{"cosine": {"max_len": 24}}']
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    subprocess.run(grpo_args(smollm2_checkpoint, straight, *common), cwd=REPO_ROOT, check=True,
                   capture_output=True, timeout=900)

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
    assert [e["step"] for e in after_resume] == [3, 4]
    for a, b in zip(after_straight, after_resume):
        for key in ("loss", "reward", "completions/mean_length", "rewards/cosine/mean", "rewards/repetition/mean"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (key, a["step"])
