"""The demo's summary: base -> SFT -> GRPO on held-out problems, the problems GRPO trained on (the
difficulty filter's counts), one problem answered by the base and the final model, and the GRPO
reward curves.

    python scripts/demo_report.py outputs/demo
"""

import argparse
import json
from pathlib import Path

from helpers.plots import plot

STAGES = ["base", "sft", "grpo"]


def load_stages(out: Path) -> dict[str, dict]:
    """stage -> its evaluation JSON, for the stages evaluated so far."""
    return {stage: json.loads((out / "eval" / f"{stage}.json").read_text())
            for stage in STAGES if (out / "eval" / f"{stage}.json").exists()}


def greedy_examples(result: dict) -> list[dict]:
    return result["greedy_completions"]["arithmetic"]


def table(stages: dict[str, dict]) -> str:
    """Format, accuracy and length in the training wording; accuracy in other words where evaluated."""
    rows = ["| stage | format rate | accuracy | accuracy, reworded | mean length (tokens) |",
            "| --- | --- | --- | --- | --- |"]
    for stage, result in stages.items():
        m, reworded = result["benchmarks"]["arithmetic"], result["benchmarks"].get("arithmetic_reworded")
        reworded_accuracy = f"{reworded['pass@1']:.2f}" if reworded else "-"
        rows.append(f"| {stage} | {m['format_rate']:.2f} | {m['pass@1']:.2f} | {reworded_accuracy} | "
                    f"{m['mean_length']:.0f} |")
    return "\n".join(rows)


def side_by_side(stages: dict[str, dict]) -> str:
    """The first held-out problem the final model gets right and the base model does not."""
    final = list(stages)[-1]
    base, last = greedy_examples(stages[STAGES[0]]), greedy_examples(stages[final])
    i = next((i for i, (a, b) in enumerate(zip(base, last)) if b["correct"] and not a["correct"]), 0)

    def verdict(example):
        return "right" if example["correct"] else "wrong"

    return "\n".join([f"problem: {base[i]['problem']}   (gold: {base[i]['gold']})", "",
                      f"--- base model ({verdict(base[i])}):", base[i]["completion"].strip(), "",
                      f"--- after {final} ({verdict(last[i])}):", last[i]["completion"].strip()])


def filter_summary(stats: dict) -> str:
    """What GRPO trained on, from the difficulty filter's counts (scripts/difficulty_filter.py)."""
    low, high = stats["pass_rate_range"]
    passed = " ".join(f"{label}: {count}" for label, count in stats["histogram"].items())
    if stats.get("every_candidate"):
        chosen = (f"only {stats['in_range']} had a pass rate in {low:.2f}-{high:.2f}, too few for a step: GRPO "
                  f"trained on all {stats['problems']} candidates")
    else:
        chosen = f"GRPO trained on the {stats['kept']} with a pass rate in {low:.2f}-{high:.2f}"
    return f"difficulty filter, {stats['problems']} candidate problems by samples passed ({passed}): {chosen}"


def report(out: Path) -> str:
    stages = load_stages(out)
    text = table(stages)
    if (out / "filtered.json").exists():
        text += "\n" + filter_summary(json.loads((out / "filtered.json").read_text()))
    text += "\n\n" + side_by_side(stages)
    if (out / "trainer_state.json").exists():
        text += f"\n\nreward curves: {plot([out], out / 'curves.png')}"
    (out / "report.md").write_text(text + "\n")
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    print(report(parser.parse_args().out))
