"""helpers/training.py: resume, and runs that diverge or whose reward keeps failing stop without saving."""

import logging
import math

import pytest
from transformers import TrainerControl, TrainerState
from trl import GRPOConfig

from helpers.config import ConfigError
from helpers.training import StopOnNonFinite, resolve_checkpoint, train_and_save


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
