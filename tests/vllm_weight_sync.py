"""Run by test_vllm.py in its own process (vLLM starts its engine with spawn): train GRPO with
colocated vLLM, push the final weights into the engine, and print, as JSON, the greedy tokens
of the engine, of the trained model and of the model it started from, on one problem.

    python tests/vllm_weight_sync.py --config configs/demo_zero.yaml --use_vllm true ...
"""

import json

import torch
from transformers import AutoModelForCausalLM

import train_grpo
from helpers.config import parse_config

NEW_TOKENS = 24


def tie_margin(model, prompt_ids: list[int], engine: list[int], trained: list[int]) -> float:
    """Where the engine's greedy answer first differs from the trained model's: how much more log-prob
    the trained model gives its own token than the engine's (0.0 when they never differ; infinite when
    one answer stops where the other goes on, which no near-tie explains)."""
    at = next((i for i, (a, b) in enumerate(zip(engine, trained)) if a != b), None)
    if at is None:
        return 0.0 if len(engine) == len(trained) else float("inf")
    logits = model(torch.tensor([prompt_ids + trained[:at]])).logits[0, -1].float().log_softmax(-1)
    return (logits[trained[at]] - logits[engine[at]]).item()


def greedy_tokens(model, prompt_ids: list[int]) -> list[int]:
    out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=NEW_TOKENS, do_sample=False,
                         repetition_penalty=1.0, pad_token_id=model.config.eos_token_id)
    return out[0, len(prompt_ids):].tolist()


if __name__ == "__main__":
    from vllm import SamplingParams

    data_args, reward_args, training_args, model_args, run_args, health = parse_config(train_grpo.ARGUMENT_TYPES)
    trainer = train_grpo.main(data_args, reward_args, training_args, model_args, health=health)
    trainer.vllm_generation.sync_weights()  # the engine last received the weights before the final step
    prompt = trainer.processing_class.apply_chat_template(
        [{"role": "user", "content": "What is 17 + 25? Think step by step."}], add_generation_prompt=True,
        tokenize=True, return_dict=False)
    engine = trainer.vllm_generation.llm.generate(
        [{"prompt_token_ids": prompt}], SamplingParams(temperature=0.0, max_tokens=NEW_TOKENS),
        use_tqdm=False)[0].outputs[0].token_ids
    with torch.no_grad():
        trained = greedy_tokens(trainer.model.eval(), prompt)
        margin = tie_margin(trainer.model, prompt, list(engine), trained)
        initial = greedy_tokens(AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path).eval(), prompt)
    kv_cache_bytes = trainer.vllm_generation.llm.llm_engine.vllm_config.cache_config.kv_cache_memory_bytes
    print("RESULT " + json.dumps({"engine": list(engine), "trained": trained, "initial": initial,
                                  "tie_margin": margin, "kv_cache_bytes": kv_cache_bytes}))
