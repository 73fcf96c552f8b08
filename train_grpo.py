"""GRPO training with rule-based rewards: DeepSeek-R1-Zero's recipe on a small model.

    python train_grpo.py --config configs/zero.yaml                 # Qwen2.5-0.5B, one 24 GB GPU, vLLM
    python train_grpo.py --config configs/demo_zero.yaml                 # SmolLM2-135M on CPU, a few minutes
    python train_grpo.py --config configs/zero.yaml --learning_rate 2e-6   # any key overrides the YAML

The YAML holds four groups of keys, parsed by TRL's `TrlParser`: data (`data.DataArguments`),
rewards (`rewards.RewardArguments`), TRL's `GRPOConfig` and `ModelConfig`. Everything that can
be wrong with a config is checked before the model loads.
"""

import logging

from transformers import AutoTokenizer, GenerationConfig
from trl import GRPOConfig, GRPOTrainer, ModelConfig, get_peft_config

from data import DataArguments, load_prompt_template, load_rl_dataset
from rewards import RewardArguments, check_reward_config, configure_verification, get_reward_funcs
from scripts.run_setup import (ConfigError, StopOnNonFinite, check_generation_backend, check_precision,
                               check_save_steps, parse_config, parse_mapping, resolve_checkpoint,
                               set_model_init_kwargs, setup_logging, train_and_save)

logger = logging.getLogger("train_grpo")


def check_config(data_args: DataArguments, reward_args: RewardArguments, training_args: GRPOConfig,
                 model_args: ModelConfig) -> dict:
    """Reject what would fail later, naming the key; return the parsed reward_kwargs."""
    if not model_args.model_name_or_path:
        raise ConfigError("model_name_or_path: required (a Hub id such as Qwen/Qwen2.5-0.5B-Instruct, "
                          "or a local checkpoint folder)")
    if not data_args.dataset_name:
        raise ConfigError("dataset_name: required (a Hub id, a local file or folder, or 'arithmetic')")
    reward_kwargs = parse_mapping(reward_args.reward_kwargs, "reward_kwargs")
    try:
        check_reward_config(reward_args.reward_funcs, reward_kwargs)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    weights = training_args.reward_weights
    if weights is not None and len(weights) != len(reward_args.reward_funcs):
        raise ConfigError(f"reward_weights: {len(weights)} value(s) {weights} for {len(reward_args.reward_funcs)} "
                          f"reward_funcs {reward_args.reward_funcs}; give one weight per reward, in the same order")
    check_precision(training_args, model_args)
    check_generation_backend(training_args)
    check_save_steps(training_args)
    return reward_kwargs


def eos_token_ids(model_args: ModelConfig) -> list[int]:
    """Every token that ends a completion, as GRPOTrainer counts them (tokenizer + generation config)."""
    ids = [AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision).eos_token_id]
    try:
        declared = GenerationConfig.from_pretrained(model_args.model_name_or_path,
                                                    revision=model_args.model_revision).eos_token_id
    except OSError:  # no generation_config.json
        declared = None
    return ids + [i for i in ([declared] if isinstance(declared, int) else declared or []) if i not in ids]


def main(data_args: DataArguments, reward_args: RewardArguments, training_args: GRPOConfig,
         model_args: ModelConfig) -> GRPOTrainer:
    reward_kwargs = check_config(data_args, reward_args, training_args, model_args)
    checkpoint = resolve_checkpoint(training_args)
    configure_verification(reward_args.verify_workers, reward_args.verify_timeout_s, reward_args.verify_memory_mb)
    try:
        template = load_prompt_template(data_args.prompt_template, data_args.prompt_templates_file, for_training=True)
        dataset = load_rl_dataset(data_args)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    logger.info("%d training prompts from %s", len(dataset), data_args.dataset_name)

    reward_funcs = get_reward_funcs(reward_args.reward_funcs, reward_kwargs, reasoning_tag=template.reasoning_tag,
                                    answer_tag=template.answer_tag, eos_token_ids=eos_token_ids(model_args))

    set_model_init_kwargs(training_args, model_args)
    non_finite = StopOnNonFinite()
    trainer = GRPOTrainer(
        model=model_args.model_name_or_path,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=dataset,
        peft_config=get_peft_config(model_args),
        callbacks=[non_finite],
    )
    train_and_save(trainer, checkpoint, non_finite)
    return trainer


if __name__ == "__main__":
    try:
        data_args, reward_args, training_args, model_args = parse_config(
            (DataArguments, RewardArguments, GRPOConfig, ModelConfig))
        setup_logging(training_args.get_process_log_level())
        main(data_args, reward_args, training_args, model_args)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}")
