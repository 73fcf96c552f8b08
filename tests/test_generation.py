"""helpers/generation.py: seeded, and a checkpoint's own generation settings never leak in."""

import os

import pytest

from data import DataArguments, load_prompt_template
from helpers.generation import HFGenerator

TEMPLATE = load_prompt_template("r1_zero", DataArguments().prompt_templates_file)


@pytest.mark.slow
def test_hf_generation_is_deterministic_for_a_seed(smollm2_checkpoint):
    generator = HFGenerator(str(smollm2_checkpoint))
    prompts = [TEMPLATE.messages("What is 2 + 3?"), TEMPLATE.messages("What is 7 * 6?")]
    first = generator.generate(prompts, 2, 12, 1.0, seed=3)
    again = generator.generate(prompts, 2, 12, 1.0, seed=3)
    other = generator.generate(prompts, 2, 12, 1.0, seed=4)
    assert [[s.text for s in g] for g in first] == [[s.text for s in g] for g in again]
    assert [[s.text for s in g] for g in first] != [[s.text for s in g] for g in other]
    assert all(0 < s.num_tokens <= 12 for g in first for s in g)
    greedy = generator.generate(prompts[:1], 1, 12, 0.0, seed=0)
    assert greedy[0][0].text == generator.generate(prompts[:1], 1, 12, 0.0, seed=9)[0][0].text


def test_a_checkpoints_generation_config_does_not_change_evaluation(smollm2_checkpoint, tmp_path):
    """A repetition penalty or top-k in generation_config.json must not leak into greedy or sampled answers."""
    from transformers import GenerationConfig

    skewed = tmp_path / "skewed"
    skewed.mkdir()
    for f in smollm2_checkpoint.iterdir():
        if f.name != "generation_config.json":
            (skewed / f.name).symlink_to(f)
    GenerationConfig(repetition_penalty=1.3, top_k=5, top_p=0.5, no_repeat_ngram_size=2, do_sample=True,
                     temperature=0.2).save_pretrained(skewed)
    prompts = [TEMPLATE.messages("Ava has 12 apples and gets 7 more. How many apples does she have?")]
    for n, temperature in [(1, 0.0), (2, 1.0)]:
        plain = HFGenerator(str(smollm2_checkpoint)).generate(prompts, n, 24, temperature, seed=1)
        assert HFGenerator(str(skewed)).generate(prompts, n, 24, temperature, seed=1) == plain


def test_vllm_on_cpu_gets_a_fixed_kv_cache_unless_the_user_sized_it(monkeypatch):
    import torch

    from helpers.generation import CPU_KV_CACHE_GIB, default_cpu_kv_cache

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU-only machine
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "")
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE")  # restored (to unset) after the test
    default_cpu_kv_cache()
    assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == str(CPU_KV_CACHE_GIB)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "3")
    default_cpu_kv_cache()
    assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == "3"


def test_vllm_on_a_few_cores_runs_in_process_unless_the_user_chose(monkeypatch):
    from helpers.generation import IN_PROCESS_ENGINE_MAX_CORES, default_in_process_engine

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "")
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(IN_PROCESS_ENGINE_MAX_CORES + 1)))
    default_in_process_engine()
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ  # many cores: vLLM's default, its own process
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    default_in_process_engine()
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    default_in_process_engine()
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"


def test_trls_colocated_vllm_is_built_eager_and_trl_is_restored_afterwards(monkeypatch):
    """TRL does not expose enforce_eager; the patch must reach the engine TRL builds and nothing after it."""
    pytest.importorskip("vllm")
    import trl.generation.vllm_generation as trl_vllm

    from helpers.generation import eager_colocated_vllm

    built = []

    def engine(**kwargs):
        built.append(kwargs)

    monkeypatch.setattr(trl_vllm, "LLM", engine)
    with eager_colocated_vllm():
        trl_vllm.LLM(model="m", enforce_eager=False)  # TRL's own value is overridden
        trl_vllm.LLM(model="m")
    assert built == [{"model": "m", "enforce_eager": True}] * 2
    assert trl_vllm.LLM is engine
    with pytest.raises(RuntimeError), eager_colocated_vllm():
        raise RuntimeError("a failing build")
    assert trl_vllm.LLM is engine


def test_the_sequence_budget_is_the_longest_prompt_plus_the_completion_budget(smollm2_checkpoint):
    """vLLM's max_model_len, so a long-reasoning evaluation is not cut at a fixed 4096; never more than
    the model's context (SmolLM2: 8192), which vLLM would refuse."""
    from transformers import AutoTokenizer

    from helpers.generation import sequence_budget

    short, long = TEMPLATE.messages("What is 2 + 3?"), TEMPLATE.messages("What is 2 + 3? " * 200)
    tokens = len(AutoTokenizer.from_pretrained(smollm2_checkpoint).apply_chat_template(
        long, add_generation_prompt=True, tokenize=True, return_dict=False))
    assert sequence_budget(str(smollm2_checkpoint), [[short], [long, short]], 4000) == tokens + 4000 > 4096 + 1000
    assert sequence_budget(str(smollm2_checkpoint), [[long]], 10_000) == 8192
