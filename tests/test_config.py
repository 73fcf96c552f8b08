"""A bad config fails before any model loads, with a message naming the key and the allowed values."""

import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT, SHARED_DATA
from trl import GRPOConfig, ModelConfig, SFTConfig

import train_grpo
from data import DataArguments
from rewards import RewardArguments
from scripts.run_setup import ConfigError, parse_config

CONFIGS = REPO_ROOT / "configs"
TYPES = (DataArguments, RewardArguments, GRPOConfig, ModelConfig)


@pytest.fixture
def no_model_loading(monkeypatch):
    """Tripwire: the run must stop before GRPOTrainer (which loads the model) is built."""
    def trainer(*args, **kwargs):
        raise AssertionError("the model started loading before the config was rejected")

    monkeypatch.setattr(train_grpo, "GRPOTrainer", trainer)


def start(tmp_path, *overrides, config="demo_zero.yaml"):
    args = parse_config(TYPES, ["--config", str(CONFIGS / config), "--output_dir", str(tmp_path), *overrides])
    return train_grpo.main(*args)


def write_config(tmp_path, extra: str):
    path = tmp_path / "config.yaml"
    path.write_text((CONFIGS / "demo_zero.yaml").read_text() + extra)
    return path


@pytest.mark.parametrize("overrides,message", [
    (["--reward_funcs", "accuracy", "formatt"], r"reward_funcs: unknown reward\(s\) \['formatt'\]; allowed: \['accuracy'"),
    (["--reward_weights", "1.0", "2.0"], r"reward_weights: 2 value\(s\) .* for 5 reward_funcs"),
    (["--reward_kwargs", '{"cosine": {"maxlen": 5}}'], r"reward_kwargs.cosine: unknown parameter 'maxlen'; allowed: \["),
    (["--reward_kwargs", "{cosine: 5"], r"reward_kwargs: not valid JSON"),
    (["--lerning_rate", "1e-5"], r"unknown key\(s\): 'lerning_rate' \(did you mean learning_rate"),
    (["--dataset_name", str(SHARED_DATA / "math500" / "test.jsonl"), "--dataset_format", "gsm8k"],
     r"missing column\(s\) \['question'\] for dataset_format 'gsm8k'; it has \['problem'"),
    (["--dataset_name", "my/private-set"], r"dataset_format: required .*allowed: \['gsm8k', 'math500', 'numina_tir'\]"),
    (["--prompt_template", "deepseek"], r"prompt_template: 'deepseek' unknown; allowed .*\['gsm8k_xml', 'r1_zero'\]"),
    (["--use_vllm", "true"], r"use_vllm: true, but vLLM is not installed: pip install -r requirements-gpu.txt"),
    (["--dtype", "bfloat16"], r"dtype: bfloat16 would store the trained weights themselves in low precision.*"
                              r"allowed: float32 \(add bf16: true for bf16 compute\), or .* use_peft: true"),
    (["--dtype", "auto"], r"dtype: auto would store the trained weights"),
    (["--fp16", "true", "--bf16", "false"], r"fp16: needs a CUDA GPU and none is visible"),
    (["--reward_kwargs", '{"repetition": {"max_penalty": 1.0}}'],
     r"reward_kwargs.repetition.max_penalty: 1.0 is out of range; allowed: <= 0"),
    (["--prompt_template", "qwen_boxed"], r"prompt_template: 'qwen_boxed' asks for no tags, so it is for evaluation only"),
    (["--model_name_or_path", ""], r"model_name_or_path: required"),
    (["--per_device_train_batch_size", "3"], r"num_generations"),
])
def test_bad_config_is_rejected_before_the_model_loads(tmp_path, no_model_loading, overrides, message):
    with pytest.raises(ConfigError, match=message):
        start(tmp_path, *overrides)


def test_unknown_yaml_key_is_named(tmp_path):
    path = write_config(tmp_path, "reward_fucs: [accuracy]\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\): 'reward_fucs' \(did you mean reward_funcs"):
        parse_config(TYPES, ["--config", str(path)])


def test_yaml_values_are_parsed_into_the_dataclasses_and_cli_overrides_win():
    data_args, reward_args, training_args, model_args = parse_config(
        TYPES, ["--config", str(CONFIGS / "demo_zero.yaml"), "--learning_rate", "3e-6", "--output_dir", "/tmp/x"])
    assert data_args.dataset_name == "arithmetic" and data_args.prompt_template == "r1_zero"
    assert reward_args.reward_funcs == ["accuracy", "format", "reasoning_steps", "cosine", "repetition"]
    assert reward_args.reward_kwargs == {"cosine": {"max_len": 96}}
    assert training_args.reward_weights == [1.0, 0.5, 0.2, 0.5, 0.5]
    assert training_args.learning_rate == 3e-6
    assert model_args.model_name_or_path == "checkpoints/SmolLM2-135M-Instruct"


@pytest.mark.parametrize("config", ["zero.yaml", "gsm8k.yaml", "r1.yaml", "rl_final.yaml", "smollm2_gsm8k.yaml",
                                    "demo_zero.yaml", "demo_r1.yaml"])
def test_every_grpo_config_is_valid_once_pointed_at_this_machine(tmp_path, config):
    """The GPU recipes parse and pass every check; only the hardware flags change on CPU."""
    args = parse_config(TYPES, ["--config", str(CONFIGS / config), "--output_dir", str(tmp_path),
                                "--bf16", "false", "--use_vllm", "false"])
    data_args, reward_args, training_args, model_args = args
    train_grpo.check_config(*args)
    assert len(training_args.reward_weights) == len(reward_args.reward_funcs)
    assert model_args.dtype == "float32"  # fp32 master weights; bf16 is compute only


@pytest.mark.parametrize("config", ["sft.yaml", "sft_round2.yaml", "demo_sft.yaml"])
def test_sft_configs_parse(tmp_path, config):
    data_args, training_args, model_args = parse_config(
        (DataArguments, SFTConfig, ModelConfig), ["--config", str(CONFIGS / config), "--bf16", "false"])
    assert data_args.prompt_template == "r1_zero" and training_args.max_length > 0


def test_the_command_line_reports_a_config_error_quickly():
    start_time = time.monotonic()
    result = subprocess.run([sys.executable, "train_grpo.py", "--config", "configs/demo_zero.yaml", "--reward_funcs", "acc"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("config error: reward_funcs: unknown reward(s) ['acc']")
    assert "Loading weights" not in result.stderr
    assert time.monotonic() - start_time < 60
