"""GRPO step benchmark: step time, completion tokens/s and peak GPU memory of a
Qwen2.5-0.5B-shaped model (24 layers, hidden 896, vocab 151,936; random weights and a
synthetic tokenizer, since the Hub is not needed) at configs/zero.yaml's batch shape.

    python scripts/bench_grpo_step.py --output outputs/bench/grpo_step.json            # GPU
    python scripts/bench_grpo_step.py --tiny --steps 2 --variants base gc               # CPU smoke test

Each variant runs in its own process (clean peak-memory counters): `base`, `gc` (gradient
checkpointing). Weights are fp32 with bf16 compute on a GPU (`bf16: true`), as in the recipe;
TRL 1.16 computes the loss with its fused LM head, so no Liger variant. Generation uses
transformers (`use_vllm: false`); every completion is forced to its full length so token
counts are exact. The first step is warm-up and not counted.
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QWEN_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                tie_word_embeddings=True, rope_theta=1_000_000.0)
TINY = dict(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True)
# zero.yaml's batch shape, and a shape that runs on CPU in seconds
SHAPES = {"zero": dict(per_device=8, grad_accum=8, generations=8, completion=512, prompt=150),
          "tiny": dict(per_device=4, grad_accum=1, generations=4, completion=16, prompt=16)}
VARIANTS = {"base": dict(gradient_checkpointing=False), "gc": dict(gradient_checkpointing=True)}


def synthetic_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2} | {f"t{i}": i for i in range(3, vocab_size)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    fast.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    return fast


def random_model(shape: dict = TINY, dtype=None):
    """A randomly initialised Qwen2 of the given shape and a tokenizer for its vocabulary."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    return AutoModelForCausalLM.from_config(Qwen2Config(**shape), dtype=dtype), synthetic_tokenizer(shape["vocab_size"])


def run_variant(variant: str, tiny: bool, steps: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    shape = SHAPES["tiny" if tiny else "zero"]
    model_shape = TINY if tiny else QWEN_05B
    cuda = torch.cuda.is_available()
    model, tokenizer = random_model(model_shape, torch.float32)  # fp32 master weights; bf16 compute on GPU
    rng = random.Random(0)
    prompts = [" ".join(f"t{rng.randrange(3, model_shape['vocab_size'])}" for _ in range(shape["prompt"]))
               for _ in range(steps * shape["per_device"] * shape["grad_accum"])]

    def random_reward(completions, **kwargs):  # any spread of rewards: the step's cost does not depend on it
        return [rng.random() for _ in completions]

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.start)

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out, max_steps=steps, per_device_train_batch_size=shape["per_device"],
            gradient_accumulation_steps=shape["grad_accum"], num_generations=shape["generations"],
            max_completion_length=shape["completion"], generation_kwargs={"min_new_tokens": shape["completion"]},
            bf16=cuda, use_cpu=not cuda, use_vllm=False, learning_rate=1e-6, logging_steps=1, report_to="none",
            save_strategy="no", **VARIANTS[variant])
        trainer = GRPOTrainer(model=model, reward_funcs=random_reward, args=config, processing_class=tokenizer,
                              train_dataset=Dataset.from_dict({"prompt": prompts}), callbacks=[timer])
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    step_s = statistics.median(timer.times[1:] or timer.times)
    completions = shape["per_device"] * shape["grad_accum"]
    return {
        "variant": variant, "device": torch.cuda.get_device_name() if cuda else "cpu",
        "model": "tiny" if tiny else "Qwen2.5-0.5B-shaped",
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "completions_per_step": completions, "completion_tokens": shape["completion"],
        "step_s": step_s, "completion_tokens_per_s": completions * shape["completion"] / step_s,
        "peak_memory_GiB": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "peak_reserved_GiB": torch.cuda.max_memory_reserved() / 2**30 if cuda else None,
        "step_times_s": timer.times,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per variant (first is warm-up)")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and batch: a CPU smoke test")
    parser.add_argument("--output", type=Path, default=Path("outputs/bench/grpo_step.json"))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one variant, print its JSON
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_variant(args.one, args.tiny, args.steps)))
        return
    results = []
    for variant in args.variants:
        cmd = [sys.executable, __file__, "--one", variant, "--steps", str(args.steps)]
        cmd += ["--tiny"] if args.tiny else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if lines:
            results.append(json.loads(lines[-1][len("RESULT "):]))
        else:
            oom = "OutOfMemoryError" in proc.stderr
            results.append({"variant": variant, "error": "out of GPU memory" if oom else proc.stderr[-2000:]})
        r = results[-1]
        print(f"{variant:9s} " + (f"step {r['step_s']:.2f} s, {r['completion_tokens_per_s']:.0f} completion tok/s, "
                                  f"peak {r['peak_memory_GiB'] or 0:.1f} GiB on {r['device']}" if "step_s" in r
                                  else f"failed: {r['error'][-300:]}"), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
