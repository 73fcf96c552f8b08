"""helpers/config.py: YAML + command line into TRL-style dataclasses, unknown keys named."""

import pytest
from conftest import REPO_ROOT
from trl import GRPOConfig, ModelConfig

from data import DataArguments
from helpers.config import ConfigError, parse_config
from rewards import RewardArguments

CONFIGS = REPO_ROOT / "configs"
TYPES = (DataArguments, RewardArguments, GRPOConfig, ModelConfig)


def write_config(tmp_path, extra: str):
    path = tmp_path / "config.yaml"
    path.write_text((CONFIGS / "demo_zero.yaml").read_text() + extra)
    return path


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
