"""Training curves from runs' logs: one panel per reward, plus total reward and completion length.

Reads `trainer_state.json` (written by train_grpo.py at the end of a run, and in every
checkpoint) from each run folder, or from its newest checkpoint if the run did not finish.
Used by scripts/plot_metrics.py, demo_report.py and pipeline_report.py.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def log_history(run: Path) -> list[dict]:
    state = run / "trainer_state.json"
    if not state.exists():
        checkpoints = sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        if not checkpoints:
            raise FileNotFoundError(f"no trainer_state.json in {run} or its checkpoints")
        state = checkpoints[-1] / "trainer_state.json"
    return [entry for entry in json.loads(state.read_text())["log_history"] if "step" in entry and "loss" in entry]


def curves(history: list[dict]) -> dict[str, tuple[list, list]]:
    """metric -> (steps, values) for the reward means, total reward and completion length."""
    names = sorted({k for entry in history for k in entry if (k.startswith("rewards/") and k.endswith("/mean"))
                    or k in ("reward", "completions/mean_length")})
    out = {}
    for name in names:
        points = [(e["step"], e[name]) for e in history if e.get(name) is not None]
        out[name] = ([s for s, _ in points], [v for _, v in points])
    return out


def plot(runs: list[Path], output: Path) -> Path:
    per_run = {run.name: curves(log_history(run)) for run in runs}
    names = sorted({name for c in per_run.values() for name in c})
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for color, (run, c) in enumerate(per_run.items()):
            if name in c:
                ax.plot(*c[name], marker="o", markersize=3, label=run, color=f"C{color}")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    return save(fig, output)


def save(fig, output: Path) -> Path:
    """Lay out, write (creating the folder) and close a figure; returns its path."""
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output
