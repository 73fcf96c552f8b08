"""helpers/config.py: YAML + command line into TRL-style dataclasses, unknown keys named."""

import pytest
from conftest import REPO_ROOT
from trl import GRPOConfig, ModelConfig, SFTConfig

from data import DataArguments
from helpers.config import (
    CPU_BF16_ENV,
    ConfigError,
    check_precision,
    cpu_supports_bf16,
    parse_config,
    precision_summary,
)
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


# --------------------------------------------------------------------------- precision follows the hardware

DEMO_CONFIGS = [("demo_sft.yaml", (DataArguments, SFTConfig, ModelConfig)), ("demo_r1.yaml", TYPES),
                ("demo_zero.yaml", TYPES)]


@pytest.mark.precision
@pytest.mark.parametrize("config,types", DEMO_CONFIGS)
def test_a_config_that_leaves_bf16_unset_computes_as_the_cpu_allows(config, types):
    """bf16 compute where the CPU has bf16 instructions, fp32 where it has not; weights fp32 in both."""
    *_, training_args, model_args = parse_config(types, ["--config", str(CONFIGS / config), "--output_dir", "/tmp/x"])
    assert training_args.bf16 is cpu_supports_bf16() and model_args.dtype == "float32"
    check_precision(training_args, model_args)  # never an error: the hardware chose
    expected = "precision: bf16 compute, fp32 weights" if cpu_supports_bf16() else "precision: fp32 compute"
    assert precision_summary(training_args).startswith(expected)


@pytest.mark.parametrize("config,types", DEMO_CONFIGS)
def test_without_cpu_bf16_the_demo_configs_run_in_fp32(monkeypatch, config, types):
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    *_, training_args, model_args = parse_config(types, ["--config", str(CONFIGS / config), "--output_dir", "/tmp/x"])
    assert training_args.bf16 is False
    check_precision(training_args, model_args)
    assert "fp32 compute" in precision_summary(training_args)


def test_an_explicit_bf16_on_a_cpu_without_it_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    *_, training_args, model_args = parse_config(TYPES, ["--config", str(CONFIGS / "demo_r1.yaml"), "--bf16", "true",
                                                         "--output_dir", "/tmp/x"])
    with pytest.raises(ConfigError, match=r"bf16: true, but this CPU has no bf16 instructions .* pass --bf16 false"):
        check_precision(training_args, model_args)


@pytest.mark.parametrize("how", ["yaml", "cli"])
def test_an_explicit_choice_wins_over_the_hardware(tmp_path, how):
    args = (["--config", str(write_config(tmp_path, "bf16: false\n"))] if how == "yaml"
            else ["--config", str(CONFIGS / "demo_zero.yaml"), "--bf16", "false"])
    _, _, training_args, _ = parse_config(TYPES, [*args, "--output_dir", "/tmp/x"])
    assert training_args.bf16 is False


def test_the_gpu_recipes_still_compute_in_bf16(monkeypatch):
    """They say `bf16: true`; on a CPU-only machine that stays a clear error rather than a silent fp32 run."""
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    _, _, training_args, model_args = parse_config(TYPES, ["--config", str(CONFIGS / "zero.yaml"), "--use_cpu", "true",
                                                           "--use_vllm", "false"])
    assert training_args.bf16 is True
    with pytest.raises(ConfigError, match="bf16: true, but this CPU has no bf16"):
        check_precision(training_args, model_args)
