"""Reward throughput on CPU: this project's rewards vs TRL's built-in `accuracy_reward`.

    python scripts/bench_rewards.py --verify_workers 2 --output outputs/bench/rewards.json

Completions: for each GSM8K-test and MATH-500 problem, a correct and a wrong answer in the R1
format with the answer boxed (so both implementations read the same answer), plus a few
adversarial ones that only this project's rewards are run on (TRL's reward hangs on a power
tower). Reports completions/s for TRL's accuracy_reward (single process, as TRL runs it),
for our `accuracy` (worker pool) and for a configured reward list, their ratio, and every
verdict on which the two disagree, split by which side is right (each completion's answer is
either the gold itself or the gold plus a number, so the right verdict is known).
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import rewards
from data import REPO_ROOT, DataArguments, load_rl_dataset
from helpers.config import parse_config
from rewards import VerifyArguments

ADVERSARIAL = [
    "\\boxed{\\dfrac{5^{\\left(5^{\\left(5^{\\left(5^5\\right)}\\right)} - 4\\right)} - 5}{16}}",
    "<answer>\\boxed{(10^{8})!}</answer>",
    "\\boxed{" + "{" * 30 + "1" + "}" * 30 + "}",
    "<think>" + "x " * 100_000 + "</think><answer>1</answer>",
]


def completions_and_golds(data_dir: Path, per_benchmark: int | None):
    """(completions, golds): a correct and a wrong boxed answer per problem."""
    texts, golds = [], []
    for name in ("gsm8k", "math500"):
        ds = load_rl_dataset(DataArguments(dataset_name=str(data_dir / name), dataset_format=name,
                                           dataset_train_split="test", max_train_samples=per_benchmark))
        for i, gold in enumerate(ds["solution"]):
            wrong = f"{gold} + {i + 1}"  # a different value, still well-formed LaTeX
            for answer in (gold, wrong):
                texts.append(f"<think>\nLet me work it out step by step, problem {i}.\n</think>\n"
                             f"<answer>\nThe answer is $\\boxed{{{answer}}}$.\n</answer>")
                golds.append(gold)
    return texts, golds


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


@dataclass
class BenchArguments(VerifyArguments):
    """What to measure; the `verify_*` keys set up the math-verify pool as in the training configs."""

    data_dir: str = field(default=str(REPO_ROOT.parent / "shared" / "data"),
                          metadata={"help": "A folder holding gsm8k/ and math500/ (test.jsonl each)."})
    per_benchmark: int | None = field(default=None, metadata={"help": "Problems per benchmark (default all)."})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format", "reasoning_steps", "cosine", "repetition"])
    output: str = "outputs/bench/rewards.json"


def main(args: BenchArguments):
    from trl.rewards import accuracy_reward as trl_accuracy

    texts, golds = completions_and_golds(Path(args.data_dir), args.per_benchmark)
    chats = [[{"role": "assistant", "content": t}] for t in texts]
    # TRL's reward reads the gold as LaTeX; wrap it as our reward does so both grade the same thing.
    trl_golds = [f"$\\boxed{{{g}}}$" for g in golds]

    rewards.configure_verification(args)
    rewards.verification_pool().judge([("$\\boxed{1}$", "1")])  # start the workers outside the timing
    trl_scores, trl_s = timed(trl_accuracy, chats, trl_golds)
    (ours,) = rewards.get_reward_funcs(["accuracy"])
    rewards.verification_pool()._cache.clear()
    our_scores, ours_s = timed(ours, chats, solution=golds)
    truth = [float(i % 2 == 0) for i in range(len(texts))]  # completions alternate: gold, then a wrong answer
    disagreements = [{"answer_of": g, "right": r, "trl": a, "ours": b}
                     for g, r, a, b in zip(golds, truth, trl_scores, our_scores) if a != b]

    configured = rewards.get_reward_funcs(args.reward_funcs)
    rewards.verification_pool()._cache.clear()
    all_chats = chats + [[{"role": "assistant", "content": t}] for t in ADVERSARIAL]
    all_golds = golds + ["1"] * len(ADVERSARIAL)
    start = time.perf_counter()
    for func in configured:
        values = func(all_chats, solution=all_golds, completion_ids=None)
        assert all(v is None or v == v for v in values)
    list_s = time.perf_counter() - start

    result = {
        "completions": len(texts),
        "trl_accuracy_per_s": len(texts) / trl_s,
        "our_accuracy_per_s": len(texts) / ours_s,
        "speedup": trl_s / ours_s,
        "verify_workers": args.verify_workers,
        "disagreements": len(disagreements),
        "disagreements_trl_right": sum(d["trl"] == d["right"] for d in disagreements),
        "disagreements_ours_right": sum(d["ours"] == d["right"] for d in disagreements),
        "disagreement_examples": disagreements[:20],
        "configured_reward_list": args.reward_funcs,
        "configured_list_completions_per_s": len(all_chats) / list_s,
        "adversarial_included_in_list_run": len(ADVERSARIAL),
        "verify_timeouts": rewards.verification_pool().stats.timeouts,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "disagreement_examples"}, indent=2))
    for d in disagreements[:5]:
        print("disagreement:", d)


if __name__ == "__main__":
    main(parse_config((BenchArguments,)))
