"""GRPO training with rule-based rewards: DeepSeek-R1-Zero's recipe on a small model.

    python train_grpo.py --config configs/zero.yaml                        # Qwen2.5-0.5B, one 24 GB GPU, vLLM
    python train_grpo.py --config configs/demo_zero.yaml                   # SmolLM2-135M on CPU, a few minutes
    python train_grpo.py --config configs/zero.yaml --learning_rate 2e-6   # any key overrides the YAML

The YAML holds the keys of ARGUMENT_TYPES, parsed by TRL's `TrlParser`: data (`data.DataArguments`),
rewards (`rewards.RewardArguments`), TRL's `GRPOConfig` and `ModelConfig`; the training-health
monitor's thresholds (`helpers.health.HealthArguments`) keep their defaults unless set. Everything that can
be wrong with a config is checked before the model loads; `--check_only true` stops there.
"""

import logging
import math
from contextlib import nullcontext

from transformers import GenerationConfig
from trl import GRPOConfig, GRPOTrainer, ModelConfig, get_peft_config

from data import DataArguments, load_prompt_template, load_rl_dataset
from helpers.config import ConfigError, TrainRunArguments, check_precision, parse_config, setup_logging
from helpers.generation import (
    default_cpu_kv_cache,
    eager_colocated_vllm,
    installed_vllm,
    sync_weights_by_reload,
    vllm_missing_reason,
    vllm_usable,
)
from helpers.health import HealthArguments, HealthMonitor
from helpers.training import StopOnNonFinite, load_tokenizer, resolve_checkpoint, set_model_init_kwargs, train_and_save
from rewards import REWARD_ROLES, RewardArguments, configure_verification, get_reward_funcs

logger = logging.getLogger("train_grpo")

# Every key a GRPO command line may hold, in the order parse_config returns them: each script that
# reads train_grpo.py's arguments (the demo's estimate, the benchmarks) parses with this tuple.
ARGUMENT_TYPES = (DataArguments, RewardArguments, GRPOConfig, ModelConfig, TrainRunArguments, HealthArguments)


def check_config(data_args: DataArguments, reward_args: RewardArguments, training_args: GRPOConfig,
                 model_args: ModelConfig) -> None:
    """Reject what would fail later, naming the key (the rewards and their parameters were
    checked when RewardArguments was built; the data and template are checked as they load)."""
    if not model_args.model_name_or_path:
        raise ConfigError("model_name_or_path: required (a Hub id such as Qwen/Qwen2.5-0.5B-Instruct, "
                          "or a local checkpoint folder)")
    if not data_args.dataset_name:
        raise ConfigError("dataset_name: required (a Hub id, a local file or folder, or 'arithmetic')")
    weights = training_args.reward_weights
    if weights is not None and len(weights) != len(reward_args.reward_funcs):
        raise ConfigError(f"reward_weights: {len(weights)} value(s) {weights} for {len(reward_args.reward_funcs)} "
                          f"reward_funcs {reward_args.reward_funcs}; give one weight per reward, in the same order")
    check_precision(training_args, model_args)
    check_generation_backend(training_args)
    check_save_steps(training_args)


def check_generation_backend(training_args) -> None:
    """vLLM needs a build that runs here; on CPU (the community build) only what a CPU can do."""
    if not getattr(training_args, "use_vllm", False):
        return
    if training_args.vllm_mode not in ("colocate", "server"):
        raise ConfigError(f"vllm_mode: unknown '{training_args.vllm_mode}'; allowed: ['colocate', 'server']")
    if not vllm_usable():
        raise ConfigError(f"use_vllm: true, but {vllm_missing_reason()}; or pass --use_vllm false "
                          "to generate with transformers")
    if installed_vllm() != "cpu":
        return
    if training_args.vllm_mode == "server":
        raise ConfigError("vllm_mode: server sends the weights to the vLLM server over NCCL, which needs CUDA GPUs; "
                          "allowed on CPU: ['colocate']")
    if training_args.vllm_enable_sleep_mode:
        raise ConfigError("vllm_enable_sleep_mode: true frees GPU memory between generations; vLLM's CPU build "
                          "has no sleep mode. allowed on CPU: [false]")


def check_save_steps(training_args) -> None:
    """GRPO checkpoints resume exactly only at the start of a generation round.

    TRL generates `steps_per_generation x num_iterations` micro-batches at once and does not
    save that buffer, so a checkpoint taken mid-round resumes with freshly generated
    completions where the original run reused old ones: the runs diverge.
    """
    if training_args.save_strategy != "steps" or training_args.save_steps < 1:
        return
    round_length = training_args.steps_per_generation * training_args.num_iterations  # micro-batches
    micro_batches = int(training_args.save_steps) * training_args.gradient_accumulation_steps
    if micro_batches % round_length:
        multiple = round_length // math.gcd(round_length, training_args.gradient_accumulation_steps)
        raise ConfigError(
            f"save_steps: {training_args.save_steps} optimizer steps end mid-way through a generation round "
            f"(steps_per_generation x num_iterations = {round_length} micro-batches, gradient_accumulation_steps = "
            f"{training_args.gradient_accumulation_steps}); TRL does not save its generation buffer, so such a "
            f"checkpoint would resume out of phase. Use a multiple of {multiple}.")


def eos_token_ids(model_args: ModelConfig) -> list[int]:
    """Every token that ends a completion, as GRPOTrainer counts them (tokenizer + generation config)."""
    model, revision = model_args.model_name_or_path, model_args.model_revision
    ids = [load_tokenizer(model_args).eos_token_id]
    try:
        declared = GenerationConfig.from_pretrained(model, revision=revision).eos_token_id
    except OSError:  # no generation_config.json
        declared = None
    return ids + [i for i in ([declared] if isinstance(declared, int) else declared or []) if i not in ids]


def prompts_per_round(training_args: GRPOConfig) -> int:
    """The distinct prompts one generation round draws (generation_batch_size / num_generations, as TRL
    derives them from the run's keys): TRL's sampler drops a last incomplete round."""
    return training_args.generation_batch_size // training_args.num_generations


def build_trainer(data_args: DataArguments, reward_args: RewardArguments, training_args: GRPOConfig,
                  model_args: ModelConfig, callbacks=(), check_only: bool = False) -> GRPOTrainer | None:
    """Check the config, load the data, the rewards and the model: a GRPOTrainer ready to train
    (None with `check_only`, which stops before the weights load)."""
    check_config(data_args, reward_args, training_args, model_args)
    configure_verification(reward_args)
    template = load_prompt_template(data_args.prompt_template, data_args.prompt_templates_file, for_training=True)
    dataset = load_rl_dataset(data_args)
    logger.info("%d training prompts from %s", len(dataset), data_args.dataset_name)
    per_round = prompts_per_round(training_args)  # with fewer prompts, GRPO's sampler yields none
    if len(dataset) < per_round:
        raise ConfigError(f"dataset_name: {len(dataset)} training prompts from {data_args.dataset_name}, fewer than "
                          f"one generation round takes (generation_batch_size / num_generations = {per_round}); "
                          f"allowed: at least {per_round} (scripts/difficulty_filter.py keeps that many with "
                          f"--min_kept {per_round})")
    reward_funcs = get_reward_funcs(reward_args.reward_funcs, reward_args.reward_kwargs,
                                    reasoning_tag=template.reasoning_tag, answer_tag=template.answer_tag,
                                    eos_token_ids=eos_token_ids(model_args))
    if check_only:
        print(f"check ok: train_grpo.py, {training_args.max_steps} steps from {model_args.model_name_or_path}")
        return None
    set_model_init_kwargs(training_args, model_args)
    if training_args.use_vllm:
        default_cpu_kv_cache()
    vllm_on_cpu = training_args.use_vllm and installed_vllm() == "cpu"
    with eager_colocated_vllm() if vllm_on_cpu else nullcontext():
        trainer = GRPOTrainer(
            model=model_args.model_name_or_path,
            reward_funcs=reward_funcs,
            args=training_args,
            train_dataset=dataset,
            peft_config=get_peft_config(model_args),
            callbacks=list(callbacks),
        )
    if vllm_on_cpu:
        sync_weights_by_reload(trainer)
    return trainer


def reward_roles(reward_args: RewardArguments) -> dict[str, tuple[str, float]]:
    """The run's rewards that the health monitor reads, with their role and best value."""
    return {name: REWARD_ROLES[name] for name in reward_args.reward_funcs if name in REWARD_ROLES}


def main(data_args: DataArguments, reward_args: RewardArguments, training_args: GRPOConfig,
         model_args: ModelConfig, check_only: bool = False, health: HealthArguments | None = None,
         max_train_seconds: float | None = None) -> GRPOTrainer | None:
    checkpoint = resolve_checkpoint(training_args)
    health = health or HealthArguments()
    non_finite = StopOnNonFinite()
    callbacks = [non_finite] + ([HealthMonitor(health, reward_roles(reward_args))] if health.health_monitor else [])
    trainer = build_trainer(data_args, reward_args, training_args, model_args, callbacks, check_only)
    if trainer is None:
        return None
    train_and_save(trainer, checkpoint, non_finite, max_train_seconds)
    return trainer


if __name__ == "__main__":
    try:
        data_args, reward_args, training_args, model_args, run_args, health = parse_config(ARGUMENT_TYPES)
        setup_logging(training_args.get_process_log_level(), training_args.should_log)
        main(data_args, reward_args, training_args, model_args, run_args.check_only, health, run_args.max_train_seconds)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
