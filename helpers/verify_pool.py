"""Sandboxed math-verify: answer checking that cannot hang, raise, or eat the machine.

math-verify's own timeouts are SIGALRM-based and leak: a parsed power tower can run
SymPy's evalf with no timeout, `(10^{8})!` sits in one C call for tens of seconds, and
the alarm only works in a main thread. The only reliable containment is a process we
can kill. So each check runs in a long-lived worker process (a plain `python` running
this file, so it never re-imports the trainer's heavy `__main__`), with

  * a hard wall-clock limit per check, enforced by the parent: a worker that overruns
    is SIGKILLed and replaced, and the check scores False;
  * an address-space cap (RLIMIT_AS) set inside the worker, so a runaway allocation
    becomes a MemoryError (scored False) instead of swapping the box;
  * several workers checking in parallel, and a cache, since a GRPO group often
    repeats the same final answer.

Protocol: one JSON line per request `{"gold": str, "pred": str}` on the worker's stdin,
one JSON line `{"verdict": true|false|null}` back (null: the gold is not math, see `reads_as_words`).
"""

import atexit
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass
class PoolStats:
    cache_hits: int = 0
    timeouts: int = 0  # checks killed at the wall-clock limit
    crashes: int = 0  # workers that died mid-check (segfault, OOM-kill)


class _Worker:
    def __init__(self, parse_timeout: int, verify_timeout: int, memory_mb: int):
        cmd = [sys.executable, "-u", os.path.abspath(__file__), "--worker",
               str(parse_timeout), str(verify_timeout), str(memory_mb)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        self.ready = False
        self.job = None  # index of the pair being checked
        self.deadline = None

    def send(self, job: int, gold: str, pred: str, deadline: float):
        self.job, self.deadline = job, deadline
        self.proc.stdin.write(json.dumps({"gold": gold, "pred": pred}).encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self):
        """The worker's next message, or None if it died."""
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class VerifyPool:
    """Check (gold, prediction) pairs with math-verify in killable worker processes.

    `workers`, `timeout_s` and `memory_mb` come from the config (rewards.VerifyArguments, where
    their defaults are); the rest are internals that tests tighten.
    """

    def __init__(self, workers: int, timeout_s: float, memory_mb: int, inner_timeout_s: int | None = None,
                 startup_timeout_s: float = 120.0, cache_size: int = 100_000):
        if workers < 1 or timeout_s <= 0 or memory_mb < 256:
            raise ValueError(f"VerifyPool needs workers >= 1, timeout_s > 0, memory_mb >= 256; "
                             f"got workers={workers}, timeout_s={timeout_s}, memory_mb={memory_mb}")
        self.timeout_s = timeout_s
        self.startup_timeout_s = startup_timeout_s
        # math-verify's own timeouts must be whole seconds (a float silently disables them);
        # they give a clean False early, the parent's wall clock is the hard stop.
        inner = inner_timeout_s or max(1, int(timeout_s // 2))
        self._worker_args = (inner, inner, memory_mb)
        self._workers = [_Worker(*self._worker_args) for _ in range(workers)]
        self._failed_starts = 0
        self._cache: dict[tuple[str, str], bool | None] = {}
        self._cache_size = cache_size
        self.stats = PoolStats()
        atexit.register(self.close)

    def judge(self, pairs: list[tuple[str, str]]) -> list[bool | None]:
        """Verdict per (gold, pred): True/False, None when the gold is not math (does not parse, or
        reads as words)."""
        # Each distinct uncached pair is checked once: a GRPO group often repeats its answer.
        # Killed checks are cached as False too, so a pathological answer stalls a run once.
        new = list(dict.fromkeys(pair for pair in pairs if pair not in self._cache))
        verdicts = {pair: self._cache[pair] for pair in pairs if pair in self._cache} | self._run(new)
        if len(self._cache) + len(new) > self._cache_size:
            self._cache.clear()
        self._cache.update(verdicts)
        self.stats.cache_hits += len(pairs) - len(new)
        return [verdicts[pair] for pair in pairs]

    def _run(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], bool | None]:
        """Check each pair once in the workers; a killed or crashed check is False."""
        verdicts: list[bool | None] = [False] * len(pairs)
        todo = deque(range(len(pairs)))
        waiting_for_ready_since = time.monotonic()
        while todo or any(w.job is not None for w in self._workers):
            now = time.monotonic()
            for w in list(self._workers):
                if w.ready and w.job is None and w.proc.poll() is not None:  # died idle: no check lost
                    w = self._replace(w)
                if w.ready and w.job is None and todo:
                    i = todo.popleft()
                    try:
                        w.send(i, *pairs[i], deadline=now + self.timeout_s)
                    except BrokenPipeError:  # died just now; the check was never started
                        todo.appendleft(i)
                        self._replace(w)
            pending = [w for w in self._workers if w.job is not None or not w.ready]
            deadlines = [w.deadline for w in pending if w.job is not None]
            wait = min(deadlines) - now if deadlines else self.startup_timeout_s
            # selectors (poll/epoll), not select.select: that fails on descriptors >= 1024.
            with selectors.DefaultSelector() as selector:
                for w in pending:
                    selector.register(w.proc.stdout, selectors.EVENT_READ, w)
                readable = [key.data for key, _ in selector.select(max(0.0, wait))]
            for w in readable:
                message = w.receive()
                if message is None:  # died: segfault, OOM killer, or failed to start
                    if w.job is not None:
                        self.stats.crashes += 1
                        verdicts[w.job] = False
                    elif not w.ready:
                        self._failed_starts += 1
                        if self._failed_starts >= 3:
                            raise RuntimeError("math-verify workers keep exiting at startup; is math-verify "
                                               "installed? (pip install -r requirements.txt)")
                    self._replace(w)
                elif "ready" in message:
                    w.ready = True
                    self._failed_starts = 0
                else:
                    verdicts[w.job] = message["verdict"]
                    w.job = w.deadline = None
            now = time.monotonic()
            for w in list(self._workers):
                if w.job is not None and now >= w.deadline:
                    self.stats.timeouts += 1
                    verdicts[w.job] = False
                    self._replace(w)
            if not any(w.ready for w in self._workers) and now - waiting_for_ready_since > self.startup_timeout_s:
                raise RuntimeError(f"no math-verify worker started within {self.startup_timeout_s:.0f} s")
        return dict(zip(pairs, verdicts))

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        fresh = _Worker(*self._worker_args)
        self._workers[self._workers.index(worker)] = fresh
        return fresh

    def close(self):
        for w in self._workers:
            w.kill()
        self._workers = []


def _exit_when_orphaned(parent: int):
    """A worker whose parent died (even by SIGKILL, mid-check) must not spin on: exit at once."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


# A word read as algebra: `forty two` parses as f*o**2*r*t**2*w*y. Counted in distinct letters, with
# SymPy's E and I because math-verify reads the letters e and i as those constants.
WORD_MIN_LETTERS = 3


def graded_values(expr) -> list:
    """What math-verify compares a bare answer with: the right-hand side of an equation (`|AB|=1`
    grades 1), each member of a set or tuple (`19, 46, and 82`), else the expression itself."""
    import sympy

    if isinstance(expr, sympy.Eq):
        return graded_values(expr.rhs)
    if isinstance(expr, (sympy.FiniteSet, sympy.Tuple, tuple, list, set, frozenset)):
        return [value for member in expr for value in graded_values(member)]
    return [expr]


def reads_as_words(expr) -> bool:
    """Does a value that math-verify would grade hold a word? A product of WORD_MIN_LETTERS or more
    letters with no number in it (`forty two`, `seventy-two`) pays any rearrangement of its letters
    and nothing else, so a gold like that cannot be verified; `2ab`, `x^2 y` and `\\text{Evelyn}` can."""
    import sympy

    for value in graded_values(expr):
        if not isinstance(value, sympy.Basic):
            continue
        for node in sympy.preorder_traversal(value):
            if not isinstance(node, sympy.Mul):
                continue
            factors = [f.base if isinstance(f, sympy.Pow) and f.exp.is_Integer else f for f in node.args]
            letters = {f for f in factors
                       if (isinstance(f, sympy.Symbol) and len(f.name) == 1) or f in (sympy.E, sympy.I)}
            if len(letters) >= WORD_MIN_LETTERS and all(f in letters or f == -1 for f in factors):
                return True
    return False


def _worker_main(parse_timeout: int, verify_timeout: int, memory_mb: int):
    import logging

    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    logging.disable(logging.CRITICAL)  # math-verify logs the whole input on every timeout
    from math_verify import parse, verify

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(10_000)

    def judge(gold: str, pred: str) -> bool | None:
        gold_parsed = parse(gold, parsing_timeout=parse_timeout)
        # Prose ("Answer is forty two.") parses to its own text alone: string equality, not math.
        if not gold_parsed or isinstance(gold_parsed[0], str) or reads_as_words(gold_parsed[0]):
            return None
        pred_parsed = parse(pred, parsing_timeout=parse_timeout)
        return bool(pred_parsed) and bool(verify(gold_parsed, pred_parsed, timeout_seconds=verify_timeout))

    out = sys.stdout.buffer
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            verdict = judge(request["gold"], request["pred"])
        except BaseException:  # math-verify's TimeoutException is a BaseException; MemoryError, RecursionError
            verdict = False
        out.write(json.dumps({"verdict": verdict}).encode() + b"\n")
        out.flush()


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker_main(*map(int, sys.argv[2:5]))
