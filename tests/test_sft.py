import json
import logging

import pytest
from conftest import FIXTURES
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

from data import DataArguments, load_prompt_template, load_sft_dataset
from rewards import get_reward_funcs
from train_sft import drop_long_examples

BESPOKE = str(FIXTURES / "bespoke_stratos.jsonl")


def load(**kwargs):
    return load_sft_dataset(DataArguments(dataset_name=BESPOKE, dataset_format="bespoke_stratos", **kwargs))


def test_bespoke_traces_become_the_rl_format(caplog):
    with caplog.at_level(logging.WARNING):
        ds = load()
    assert "dropped 1 of 4 rows" in caplog.text  # the row without thought/solution markers
    row = ds[0]
    system, user = row["prompt"]
    assert system["content"] == load_prompt_template("r1_zero", DataArguments().prompt_templates_file).system_prompt
    assert user["content"].startswith("The operation $\\otimes$") and "Return your final response" not in user["content"]
    (assistant,) = row["completion"]
    text = assistant["content"]
    assert text.startswith("<think>\nOkay, let me compute") and "<|begin_of_thought|>" not in text
    assert "<answer>\nWe have" in text and text.endswith("\\boxed{-\\frac{2}{3}}$.\n</answer>")
    # The converted traces earn exactly what the RL stage pays for.
    fmt, tags, accuracy = get_reward_funcs(["format", "tag_count", "accuracy"])
    assert fmt([row["completion"]]) == [1.0]
    assert tags([row["completion"]]) == [1.0]
    assert accuracy([row["completion"]], solution=["-2/3"]) == [1.0]


def test_the_xml_template_gives_reasoning_tags():
    text = load(prompt_template="gsm8k_xml")[0]["completion"][0]["content"]
    assert text.startswith("<reasoning>\n") and "\n</reasoning>\n<answer>\n" in text


def test_rejection_sampled_files_join_through_the_same_path(tmp_path):
    extra = tmp_path / "sampled.jsonl"
    row = {"prompt": [{"role": "user", "content": "1+1?"}],
           "completion": [{"role": "assistant", "content": "<think>\n1+1\n</think>\n<answer>\n2\n</answer>"}]}
    extra.write_text(json.dumps(row) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    ds = load(extra_train_files=[str(extra), str(empty)])
    assert len(ds) == 4 and ds[-1] == row


def test_missing_columns_are_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": []}) + "\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['conversations'\]"):
        load_sft_dataset(DataArguments(dataset_name=str(bad), dataset_format="bespoke_stratos"))
    with pytest.raises(ValueError, match=r"dataset_format: unknown 'gsm8k'; allowed: \['bespoke_stratos'"):
        load_sft_dataset(DataArguments(dataset_name=str(bad), dataset_format="gsm8k"))


def test_long_traces_are_dropped_and_counted(smollm2_checkpoint, caplog):
    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint)
    ds = load()
    with caplog.at_level(logging.WARNING):
        kept = drop_long_examples(ds, tokenizer, max_length=1024)
    assert len(kept) == 2 and "dropped 1 of 3 examples longer than max_length=1024" in caplog.text


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
