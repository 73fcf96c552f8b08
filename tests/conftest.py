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
