"""helpers/config.py: YAML + command line into TRL-style dataclasses, unknown keys named."""

import pytest
import torch
from conftest import REPO_ROOT
from trl import GRPOConfig, ModelConfig, SFTConfig

from data import DataArguments
from helpers import config
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


# Flags as /proc/cpuinfo lists them (abridged): an AVX-512 server CPU without bf16 (Skylake-SP, Cascade
# Lake, Ice Lake), one with AVX512-BF16 and AMX (Sapphire Rapids, Zen 4), and an AVX2-only one (Zen 3).
AVX512_ONLY = {"avx2", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni"}
CPUS = [(AVX512_ONLY, False), (AVX512_ONLY | {"avx512_bf16", "amx_bf16", "amx_tile"}, True), ({"avx", "avx2"}, False)]


@pytest.mark.parametrize("flags,bf16", CPUS, ids=["avx512-no-bf16", "avx512-bf16-amx", "avx2"])
def test_bf16_compute_follows_the_cpus_own_bf16_flags(monkeypatch, flags, bf16):
    """oneDNN's own test says yes on every AVX-512 CPU; the flags decide, and so do the demo configs' defaults."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU-only machine
    monkeypatch.delenv(CPU_BF16_ENV, raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(config, "cpu_flags", lambda: flags)
    assert cpu_supports_bf16() is bf16
    *_, training_args, _ = parse_config(TYPES, ["--config", str(CONFIGS / "demo_r1.yaml"), "--output_dir", "/tmp/x"])
    assert training_args.bf16 is bf16
    assert ("this CPU has AVX512-BF16/AMX" in precision_summary(training_args)) is bf16


def test_this_machines_flags_are_read_and_a_kernel_limit_without_bf16_means_fp32(monkeypatch):
    monkeypatch.delenv(CPU_BF16_ENV, raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    flags = config.cpu_flags()
    assert "sse2" in flags or not flags  # x86 lists it; other machines or no /proc: empty
    assert cpu_supports_bf16() is bool({"avx512_bf16", "amx_bf16"} & flags)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    assert cpu_supports_bf16() is False
    monkeypatch.setenv(CPU_BF16_ENV, "1")  # measuring emulated bf16 on purpose
    assert cpu_supports_bf16() is True
