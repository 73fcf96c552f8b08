"""Sampling completions for evaluation and rejection sampling: vLLM when it is installed and
a GPU is visible, transformers' `generate` otherwise. Same interface, seeded.

Every sampling setting is passed explicitly (plain temperature sampling, or greedy): a
checkpoint's own `generation_config.json` (a repetition penalty, top-k, top-p) must not
silently change what an evaluation measures.
"""

import importlib.util
import logging
from dataclasses import dataclass

import torch

from helpers.config import ConfigError, cpu_supports_bf16

logger = logging.getLogger(__name__)


@dataclass
class Sample:
    text: str
    num_tokens: int


def vllm_usable() -> bool:
    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def inference_dtype() -> torch.dtype:
    """bf16 on GPUs and on CPUs with bf16 instructions (about 2x faster generation there), else fp32."""
    return torch.bfloat16 if torch.cuda.is_available() or cpu_supports_bf16() else torch.float32


class HFGenerator:
    def __init__(self, model_path: str, batch_size: int = 32):
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=inference_dtype()).to(device).eval()
        # Replace (not merge with) the checkpoint's generation defaults.
        self.model.generation_config = GenerationConfig(
            eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id,
            bos_token_id=self.tokenizer.bos_token_id)
        self.batch_size = batch_size

    @torch.inference_mode()
    def generate(self, prompts: list[list[dict]], n: int, max_new_tokens: int, temperature: float,
                 seed: int) -> list[list[Sample]]:
        """`n` samples per chat prompt; temperature 0 means greedy (and n must be 1)."""
        texts = [self.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        per_batch = max(1, self.batch_size // n)
        eos = self.tokenizer.eos_token_id
        results = []
        for start in range(0, len(texts), per_batch):
            torch.manual_seed(seed + start)  # the same prompts give the same samples, whatever ran before
            batch = self.tokenizer(texts[start : start + per_batch], return_tensors="pt", padding=True,
                                   add_special_tokens=False).to(self.model.device)
            sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0} \
                if temperature > 0 else {"do_sample": False}
            out = self.model.generate(**batch, max_new_tokens=max_new_tokens, num_return_sequences=n,
                                      repetition_penalty=1.0, no_repeat_ngram_size=0, **sampling)
            new_tokens = out[:, batch["input_ids"].shape[1] :].tolist()
            samples = []
            for tokens in new_tokens:
                length = tokens.index(eos) + 1 if eos in tokens else len(tokens)
                samples.append(Sample(self.tokenizer.decode(tokens[:length], skip_special_tokens=True), length))
            results += [samples[i : i + n] for i in range(0, len(samples), n)]
        return results


class VLLMGenerator:
    def __init__(self, model_path: str, gpu_memory_utilization: float = 0.85):
        from vllm import LLM

        # generation_config="vllm": vLLM's neutral defaults, not the checkpoint's generation_config.json.
        self.llm = LLM(model=model_path, gpu_memory_utilization=gpu_memory_utilization, generation_config="vllm")

    def generate(self, prompts, n, max_new_tokens, temperature, seed):
        from vllm import SamplingParams

        params = SamplingParams(n=n, max_tokens=max_new_tokens, temperature=temperature, top_p=1.0, top_k=-1,
                                min_p=0.0, repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0,
                                seed=seed)
        outputs = self.llm.chat(prompts, params, use_tqdm=True)
        return [[Sample(o.text, len(o.token_ids)) for o in output.outputs] for output in outputs]


def make_generator(model_path: str, backend: str = "auto"):
    """`backend`: auto (vLLM if usable), vllm or hf."""
    if backend not in ("auto", "vllm", "hf"):
        raise ConfigError(f"backend: unknown '{backend}'; allowed: ['auto', 'hf', 'vllm']")
    if backend == "vllm" or (backend == "auto" and vllm_usable()):
        logger.info("generating with vLLM")
        return VLLMGenerator(model_path)
    logger.info("generating with transformers on %s", "cuda" if torch.cuda.is_available() else "cpu")
    return HFGenerator(model_path)
