import threading
import time

import pytest

from helpers.verify_pool import VerifyPool

NESTED_30 = "\\boxed{" + "{" * 30 + "1" + "}" * 30 + "}"  # >40 s inside math-verify without a limit


@pytest.fixture
def pool():
    # math-verify's own alarms set far past the wall clock, so only the kill can stop a check.
    p = VerifyPool(workers=2, timeout_s=1.5, inner_timeout_s=60, memory_mb=1024)
    p.judge([("$\\boxed{1}$", "1")])  # wait until workers are up
    yield p
    p.close()


def test_verdicts(pool):
    pairs = [("$\\boxed{72}$", "72.0"), ("$\\boxed{72}$", "71"), ("$\\boxed{\\frac{1}{2}}$", "0.5"), ("\\boxed{", "1")]
    assert pool.judge(pairs) == [True, False, True, None]


def test_a_stuck_check_is_killed_scored_false_and_the_worker_replaced(pool):
    start = time.monotonic()
    verdicts = pool.judge([("$\\boxed{1}$", NESTED_30), ("$\\boxed{2}$", "2"), ("$\\boxed{3}$", "3")])
    assert verdicts == [False, True, True]
    assert pool.stats.timeouts == 1
    assert time.monotonic() - start < 10
    # The replacement worker serves the next batch.
    assert pool.judge([("$\\boxed{4}$", "4"), ("$\\boxed{5}$", "5")]) == [True, True]


def test_a_memory_hog_is_contained():
    # 2^(2^32) needs a 512 MB integer: under a 400 MB address-space cap it is a MemoryError.
    p = VerifyPool(workers=1, timeout_s=30, inner_timeout_s=60, memory_mb=400)
    try:
        start = time.monotonic()
        assert p.judge([("$\\boxed{1}$", "\\boxed{2^{2^{32}}}")]) == [False]
        assert p.stats.timeouts == 0 and time.monotonic() - start < 25
        assert p.judge([("$\\boxed{1}$", "1")]) == [True]
    finally:
        p.close()


def test_a_worker_that_dies_mid_check_is_counted_and_replaced(pool):
    killer = threading.Timer(0.5, lambda: [w.proc.kill() for w in pool._workers if w.job is not None])
    killer.start()
    assert pool.judge([("$\\boxed{1}$", NESTED_30)]) == [False]
    assert (pool.stats.crashes, pool.stats.timeouts) == (1, 0)
    assert pool.judge([("$\\boxed{7}$", "7")]) == [True]


def test_workers_that_died_idle_are_replaced_without_losing_checks(pool):
    for w in pool._workers:
        w.proc.kill()
        w.proc.wait()
    assert pool.judge([("$\\boxed{6}$", "6")]) == [True]
    assert pool.stats.crashes == 0


def test_repeated_pairs_hit_the_cache(pool):
    pairs = [("$\\boxed{8}$", "8"), ("$\\boxed{8}$", "9")] * 10
    assert pool.judge(pairs) == [True, False] * 10
    assert pool.stats.cache_hits >= 18


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="workers >= 1"):
        VerifyPool(workers=0, timeout_s=5.0, memory_mb=1024)


def test_workers_are_read_even_when_their_descriptors_are_above_1024():
    """select.select raises on descriptors >= 1024; a process with many open files gets such ones."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low to open 1100 files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    p = None
    try:
        p = VerifyPool(workers=1, timeout_s=10, memory_mb=1024)
        assert min(w.proc.stdout.fileno() for w in p._workers) >= 1024
        assert p.judge([("$\\boxed{2}$", "2"), ("$\\boxed{2}$", "3")]) == [True, False]
    finally:
        if p is not None:
            p.close()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_full_cache_does_not_lose_the_batch_that_fills_it():
    p = VerifyPool(workers=1, timeout_s=10, memory_mb=1024, cache_size=2)
    try:
        assert p.judge([("$\\boxed{1}$", "1"), ("$\\boxed{1}$", "2")]) == [True, False]
        # One cache hit plus two new pairs: the cache overflows and is cleared within this call.
        assert p.judge([("$\\boxed{1}$", "1"), ("$\\boxed{3}$", "3"), ("$\\boxed{3}$", "4")]) == [True, True, False]
    finally:
        p.close()


def test_a_worker_exits_when_its_parent_is_killed_mid_check(tmp_path):
    """SIGKILL the process that owns the pool while a check is stuck: its worker must not spin on."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import REPO_ROOT

    script = ("from helpers.verify_pool import VerifyPool\n"
              "p = VerifyPool(workers=1, timeout_s=600, inner_timeout_s=600, memory_mb=1024)\n"
              "p.judge([('$\\\\boxed{1}$', '1')])\n"
              f"print(p._workers[0].proc.pid, flush=True)\n"
              f"p.judge([('$\\\\boxed{{1}}$', {NESTED_30!r})])\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    time.sleep(1.0)  # the worker is now inside the stuck check
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the worker outlived its parent by 10 s")
