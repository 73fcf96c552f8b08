"""Cold-start SFT on reasoning traces: the step before R1's second RL stage.

    python train_sft.py --config configs/sft.yaml          # Qwen2.5-0.5B on Bespoke-Stratos-17k, one GPU
    python train_sft.py --config configs/demo_sft.yaml     # SmolLM2-135M on CPU, a few steps

Bespoke-Stratos traces (`<|begin_of_thought|>...<|begin_of_solution|>...`) are rewritten into
the prompt template's tags and system prompt (data.py), so the model learns exactly the
format the RL rewards pay for. Rejection-sampled traces (scripts/rejection_sample.py) join
through `extra_train_files`. The loss covers the assistant turn only (TRL's prompt-completion
format), and examples longer than `max_length` tokens are dropped, with the count logged.
`--check_only true` checks the config, data and tokenizer and stops before the weights load.
"""

import logging

from trl import ModelConfig, SFTConfig, SFTTrainer, get_peft_config

from data import DataArguments, load_sft_dataset
from helpers.config import ConfigError, TrainRunArguments, check_precision, parse_config, setup_logging
from helpers.training import StopOnNonFinite, load_tokenizer, resolve_checkpoint, set_model_init_kwargs, train_and_save

# Every key an SFT command line may hold, in the order parse_config returns them (scripts/demo_estimate.py too).
ARGUMENT_TYPES = (DataArguments, SFTConfig, ModelConfig, TrainRunArguments)

logger = logging.getLogger("train_sft")


def drop_long_examples(dataset, tokenizer, max_length: int | None, max_completion_tokens: int | None = None):
    """Keep examples whose whole chat fits in `max_length` tokens and whose assistant turn fits in
    `max_completion_tokens`: a truncated trace loses its answer, and RL cuts completions at its budget."""
    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def fits(row):
        prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        whole = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        return ((max_length is None or n_tokens(whole) <= max_length)
                and (max_completion_tokens is None or n_tokens(whole) - n_tokens(prompt) <= max_completion_tokens))

    kept = dataset.filter(fits)
    limits = f"max_length={max_length}" + (f", max_completion_tokens={max_completion_tokens}"
                                            if max_completion_tokens is not None else "")
    if len(kept) < len(dataset):
        logger.warning("dropped %d of %d examples longer than %s tokens", len(dataset) - len(kept), len(dataset),
                       limits)
    if len(kept) == 0:
        raise ConfigError(f"max_length: all {len(dataset)} examples are longer than {limits} tokens")
    return kept


def main(data_args: DataArguments, training_args: SFTConfig, model_args: ModelConfig,
         check_only: bool = False, max_train_seconds: float | None = None) -> SFTTrainer | None:
    if not model_args.model_name_or_path:
        raise ConfigError("model_name_or_path: required (a Hub id or a local checkpoint folder)")
    if not data_args.dataset_name:
        raise ConfigError("dataset_name: required (bespokelabs/Bespoke-Stratos-17k, a local jsonl, or 'arithmetic')")
    check_precision(training_args, model_args)
    checkpoint = resolve_checkpoint(training_args)
    dataset = load_sft_dataset(data_args)

    tokenizer = load_tokenizer(model_args)
    if training_args.max_length is not None or data_args.max_completion_tokens is not None:
        dataset = drop_long_examples(dataset, tokenizer, training_args.max_length, data_args.max_completion_tokens)
    logger.info("%d SFT examples", len(dataset))
    if check_only:
        print(f"check ok: train_sft.py, {training_args.max_steps} steps from {model_args.model_name_or_path}")
        return None

    set_model_init_kwargs(training_args, model_args)
    non_finite = StopOnNonFinite()
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        callbacks=[non_finite],
    )
    train_and_save(trainer, checkpoint, non_finite, max_train_seconds)
    return trainer


if __name__ == "__main__":
    try:
        data_args, training_args, model_args, run_args = parse_config(ARGUMENT_TYPES)
        setup_logging(training_args.get_process_log_level(), training_args.should_log)
        main(data_args, training_args, model_args, run_args.check_only, run_args.max_train_seconds)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
