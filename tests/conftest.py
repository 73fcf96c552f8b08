import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end runs on the real SmolLM2 model (minutes); "
                                       "deselect with -m 'not slow'")


@pytest.fixture(scope="session")
def smollm2_checkpoint() -> Path:
    """The real SmolLM2-135M-Instruct, converted from its GGUF once (cached in checkpoints/)."""
    from scripts.prepare_smollm2 import prepare

    return prepare()


@pytest.fixture(scope="session", autouse=True)
def small_verification_pool():
    """Two math-verify workers with a 3 s limit: enough for the 2-core CI box."""
    import rewards

    rewards.configure_verification(workers=2, timeout_s=3.0, memory_mb=1024)


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
