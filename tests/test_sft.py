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
    assert "dropped 2 of 4 rows" in caplog.text  # no thought/solution markers; a proof with no final answer
    row = ds[0]
    system, user = row["prompt"]
    assert system["content"] == load_prompt_template("r1_zero", DataArguments().prompt_templates_file).system_prompt
    assert user["content"].startswith("The operation $\\otimes$") and "Return your final response" not in user["content"]
    (assistant,) = row["completion"]
    text = assistant["content"]
    assert text.startswith("<think>\nOkay, let me compute") and "<|begin_of_thought|>" not in text
    # The written-up solution goes to the reasoning; the answer block holds the final answer only.
    assert "\n\nWe have $(1\\otimes 2)" in text.split("</think>")[0]
    assert text.endswith("</think>\n<answer>\n-\\frac{2}{3}\n</answer>")
    # The converted traces earn exactly what the RL stage pays for.
    fmt, tags, accuracy = get_reward_funcs(["format", "tag_count", "accuracy"])
    assert fmt([row["completion"]]) == [1.0]
    assert tags([row["completion"]]) == [1.0]
    assert accuracy([row["completion"]], solution=["-2/3"]) == [1.0]
    cosine = get_reward_funcs(["cosine"], {"cosine": {"max_len": 1000}})[0]
    assert cosine([row["completion"]], solution=["-2/3"])[0] > 0.9  # short and correct


def test_gsm8k_schema_rows_become_think_answer_traces():
    """GSM8K's worked solutions (and the generator's, in the same schema) are SFT traces too."""
    from conftest import SHARED_DATA

    gsm8k = load_sft_dataset(DataArguments(dataset_name=str(SHARED_DATA / "gsm8k" / "train.jsonl"),
                                           dataset_format="gsm8k", max_train_samples=2))
    text = gsm8k[0]["completion"][0]["content"]
    assert text == ("<think>\nNatalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether "
                    "in April and May.\n</think>\n<answer>\n72\n</answer>")
    arithmetic = load_sft_dataset(DataArguments(dataset_name="arithmetic", arithmetic_size=20))
    assert len(arithmetic) == 20
    fmt, accuracy = get_reward_funcs(["format", "accuracy"])
    golds = [row["answer"].rsplit("#### ", 1)[1] for row in __import__("data").arithmetic_problems(20)]
    assert fmt(arithmetic["completion"]) == [1.0] * 20
    assert accuracy(arithmetic["completion"], solution=golds) == [1.0] * 20
    assert all("<<" not in c[0]["content"] for c in arithmetic["completion"])  # calculator notes removed


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
    assert len(ds) == 3 and ds[-1] == row


def test_missing_columns_are_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": []}) + "\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['conversations'\]"):
        load_sft_dataset(DataArguments(dataset_name=str(bad), dataset_format="bespoke_stratos"))
    with pytest.raises(ValueError, match=r"dataset_format: unknown 'numina_tir'; allowed: \['bespoke_stratos', 'gsm8k'"):
        load_sft_dataset(DataArguments(dataset_name=str(bad), dataset_format="numina_tir"))


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


def test_sft_traces_fit_the_rl_completion_budget():
    """The cold-start traces must be answerable within the budget the RL stage and evaluation give."""
    import re

    from conftest import REPO_ROOT
    from trl import ModelConfig, SFTConfig as Config, GRPOConfig

    from rewards import RewardArguments
    from scripts.run_setup import parse_config

    sft_data, _, _ = parse_config((DataArguments, Config, ModelConfig), ["--config", str(REPO_ROOT / "configs/sft.yaml"),
                                                                                 "--bf16", "false"])
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
