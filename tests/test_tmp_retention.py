"""A passing test run leaves nothing large under pytest's temporary root (checkpoints are ~500 MB each)."""

import os
import subprocess
import sys

from conftest import REPO_ROOT

WRITES_LIKE_A_CHECKPOINT = '''
import pytest

@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    path = tmp_path_factory.mktemp("shared") / "model.safetensors"
    path.write_bytes(b"0" * 2_000_000)
    return path

def test_writes(tmp_path, shared):
    (tmp_path / "model.safetensors").write_bytes(b"0" * 2_000_000)
    assert shared.exists()
'''


def test_a_passing_run_leaves_no_files_under_the_temporary_root(tmp_path):
    (tmp_path / "test_writes.py").write_text(WRITES_LIKE_A_CHECKPOINT)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"} | {"PYTEST_DEBUG_TEMPROOT": str(temp_root)}
    for _ in range(2):  # the second run is where the first one's directories would pile up
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-c", str(REPO_ROOT / "pyproject.toml"),
                                 "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
                                 str(tmp_path / "test_writes.py")],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout[-2000:]
    assert list(temp_root.glob("pytest-of-*"))  # the runs did use this root
    left = [p for p in temp_root.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in left) < 100_000, left
