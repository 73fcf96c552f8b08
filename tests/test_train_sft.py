"""train_sft.py: long traces dropped and counted, the loss on the assistant turn only, configs that parse."""

import logging
import re

import pytest
from conftest import FIXTURES, REPO_ROOT
from transformers import AutoTokenizer
from trl import GRPOConfig, ModelConfig, SFTConfig, SFTTrainer

import train_grpo
import train_sft
from data import DataArguments, load_sft_dataset
from helpers.config import ConfigError, parse_config
from rewards import RewardArguments
from train_sft import drop_long_examples

BESPOKE = str(FIXTURES / "bespoke_stratos.jsonl")


def load(**kwargs):
    return load_sft_dataset(DataArguments(dataset_name=BESPOKE, dataset_format="bespoke_stratos", **kwargs))


def test_long_traces_are_dropped_and_counted(smollm2_checkpoint, caplog):
    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint)
    ds = load()
    texts = [tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=False) for r in ds]
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    with caplog.at_level(logging.WARNING):
        kept = drop_long_examples(ds, tokenizer, max_length=max(lengths) - 1)
    assert len(kept) == 1 and f"dropped 1 of 2 examples longer than max_length={max(lengths) - 1} tokens" in caplog.text
    prompts = [len(tokenizer(tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True),
                             add_special_tokens=False)["input_ids"]) for r in ds]
    completion_tokens = [whole - prompt for whole, prompt in zip(lengths, prompts)]
    kept = drop_long_examples(ds, tokenizer, None, max_completion_tokens=min(completion_tokens))
    assert len(kept) == 1 and kept[0]["completion"] == ds[completion_tokens.index(min(completion_tokens))]["completion"]


@pytest.mark.parametrize("config,rl_config", [("sft.yaml", "r1.yaml"), ("sft_round2.yaml", "rl_final.yaml"),
                                               ("demo_sft.yaml", "demo_r1.yaml")])
def test_sft_configs_parse_and_train_in_the_template_of_the_rl_stage_after_them(tmp_path, config, rl_config):
    data_args, training_args, model_args, _ = parse_config(
        train_sft.ARGUMENT_TYPES, ["--config", str(REPO_ROOT / "configs" / config), "--bf16", "false"])
    rl_data_args, *_ = parse_config(
        train_grpo.ARGUMENT_TYPES, ["--config", str(REPO_ROOT / "configs" / rl_config), "--bf16", "false"])
    assert data_args.prompt_template == rl_data_args.prompt_template and training_args.max_length > 0


def test_check_only_stops_before_the_model_loads(tmp_path, monkeypatch, capsys):
    def trainer(*args, **kwargs):
        raise AssertionError("the model started loading")

    monkeypatch.setattr(train_sft, "SFTTrainer", trainer)
    args = parse_config((DataArguments, SFTConfig, ModelConfig),
                        ["--config", str(REPO_ROOT / "configs/demo_sft.yaml"), "--output_dir", str(tmp_path)])
    assert train_sft.main(*args, check_only=True) is None
    assert "check ok: train_sft.py, 32 steps" in capsys.readouterr().out
    args[2].model_name_or_path = str(tmp_path / "no-model")
    with pytest.raises(ConfigError, match="model_name_or_path: cannot load"):
        train_sft.main(*args, check_only=True)


def test_sft_traces_fit_the_rl_completion_budget():
    """The cold-start traces must be answerable within the budget the RL stage and evaluation give."""
    sft_data, _, _ = parse_config((DataArguments, SFTConfig, ModelConfig),
                                  ["--config", str(REPO_ROOT / "configs/sft.yaml"), "--bf16", "false"])
    _, _, rl, _ = parse_config((DataArguments, RewardArguments, GRPOConfig, ModelConfig),
                               ["--config", str(REPO_ROOT / "configs/r1.yaml"), "--bf16", "false"])
    pipeline = (REPO_ROOT / "scripts" / "run_r1_pipeline.sh").read_text()
    eval_tokens = re.search(r"EVAL=\(--k \d+ --max_new_tokens (\d+)\)", pipeline).group(1)
    assert sft_data.max_completion_tokens == rl.max_completion_length == int(eval_tokens)


def test_the_loss_covers_the_assistant_turn_only(smollm2_checkpoint, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint)
    ds = load().select([1])
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_length=1024)
    trainer = SFTTrainer(model=str(smollm2_checkpoint), args=args, train_dataset=ds, processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels = batch["labels"][0].tolist()
    first_trained = next(i for i, label in enumerate(labels) if label != -100)
    prompt = tokenizer.apply_chat_template(ds[0]["prompt"], tokenize=False, add_generation_prompt=True)
    assert first_trained == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    trained_text = tokenizer.decode([t for t in labels if t != -100])
    assert trained_text.startswith("<think>\nThe sum 1 + 2") and "\\boxed{55}" in trained_text


def test_max_train_seconds_ends_the_run_at_a_step_end_and_saves_it(tiny_model, tmp_path):
    """The equal-wall-time baseline's budget: training stops at the first step end past it, long before
    max_steps, and the model, its log and (saving every N steps) the checkpoint a resume starts from are
    saved as at max_steps."""
    args = parse_config(train_sft.ARGUMENT_TYPES[:3], [
        "--config", str(REPO_ROOT / "configs/demo_sft.yaml"), "--model_name_or_path", str(tiny_model),
        "--max_steps", "300", "--arithmetic_size", "64", "--lr_scheduler_type", "constant", "--bf16", "false",
        "--save_strategy", "steps", "--save_steps", "1000", "--output_dir", str(tmp_path)])
    trainer = train_sft.main(*args, max_train_seconds=4.0)
    # A step of this model takes 1-3 s here: 300 of them would take minutes.
    steps = trainer.state.global_step
    assert 1 <= steps < 300 and trainer.state.log_history[-1]["train_runtime"] >= 4.0
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "trainer_state.json").exists()
    assert [p.name for p in tmp_path.glob("checkpoint-*")] == [f"checkpoint-{steps}"]


def test_a_time_budget_that_is_not_a_positive_number_is_a_config_error():
    with pytest.raises(ConfigError, match=r"max_train_seconds: -5.0; allowed: a number of seconds > 0"):
        parse_config(train_sft.ARGUMENT_TYPES, ["--config", str(REPO_ROOT / "configs/demo_sft.yaml"),
                                                "--max_train_seconds", "-5"])
