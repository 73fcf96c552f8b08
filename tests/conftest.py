import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
def answer(a, tokens: int = 10):
    """A well-formed completion answering `a` (a generator's Sample), for scripted generators."""
    from helpers.generation import Sample

    return Sample(f"<think>\nwork\n</think>\n<answer>\n{a}\n</answer>", tokens)


# Two math-verify workers with a 3 s limit: enough for the 2-core CI box (every test's pool).
SMALL_VERIFY_POOL = {"verify_workers": 2, "verify_timeout_s": 3.0, "verify_memory_mb": 1024}


@pytest.fixture(scope="session")
def smollm2_checkpoint() -> Path:
    """The real SmolLM2-135M-Instruct, converted from its GGUF once (cached in checkpoints/)."""
    done = subprocess.run([sys.executable, "scripts/prepare_smollm2.py"], cwd=REPO_ROOT, check=True,
                          capture_output=True, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session", autouse=True)
def small_verification_pool():
    """SMALL_VERIFY_POOL for every test that checks answers."""
    import rewards

    rewards.configure_verification(rewards.VerifyArguments(**SMALL_VERIFY_POOL))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, smollm2_checkpoint) -> Path:
    """A tiny random Llama with SmolLM2's real tokenizer and chat template: fast plumbing tests."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    path = tmp_path_factory.mktemp("tiny-llama")
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def demo_sft_model(tmp_path_factory, smollm2_checkpoint) -> Path:
    """The demo's cold start (configs/demo_sft.yaml) cut to 4 steps on the real SmolLM2, trained once per
    session for the tests that need a model which writes the format some of the time."""
    output_dir = tmp_path_factory.mktemp("demo-sft")
    done = subprocess.run([sys.executable, "train_sft.py", "--config", "configs/demo_sft.yaml", "--model_name_or_path",
                           str(smollm2_checkpoint), "--max_steps", "4", "--arithmetic_size", "128", "--output_dir",
                           str(output_dir)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return output_dir
