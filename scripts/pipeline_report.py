"""The R1 pipeline's summary: one Markdown table (stage x benchmark x metric) from the
evaluation JSONs, and the training curves of the RL stages as a PNG.

    python scripts/pipeline_report.py outputs/pipeline
"""

import argparse
import json
from pathlib import Path

from helpers.plots import plot

STAGES = ["base", "zero", "sft", "r1", "r1_final"]  # evaluation order; eval/<stage>.json
RL_RUNS = ["zero", "r1", "r1_final"]


def markdown_table(pipeline_dir: Path) -> str:
    rows, columns = [], None
    for stage in STAGES:
        path = pipeline_dir / "eval" / f"{stage}.json"
        if not path.exists():
            continue
        for benchmark, metrics in json.loads(path.read_text())["benchmarks"].items():
            columns = columns or list(metrics)
            rows.append(f"| {stage} | {benchmark} | " + " | ".join(
                f"{metrics.get(c, float('nan')):.3f}" if c != "n" else str(metrics.get(c)) for c in columns) + " |")
    if not rows:
        raise FileNotFoundError(f"no evaluation results in {pipeline_dir / 'eval'}")
    header = "| stage | benchmark | " + " | ".join(columns) + " |"
    return "\n".join([header, "|" + " --- |" * (len(columns) + 2), *rows])


def report(pipeline_dir: Path) -> tuple[Path, Path | None]:
    table_path = pipeline_dir / "report.md"
    table_path.write_text(markdown_table(pipeline_dir) + "\n")
    runs = [pipeline_dir / r for r in RL_RUNS if (pipeline_dir / r).exists()]
    plot_path = plot(runs, pipeline_dir / "curves.png") if runs else None
    return table_path, plot_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline_dir", type=Path)
    table_path, plot_path = report(parser.parse_args().pipeline_dir)
    print(table_path.read_text())
    print(f"table: {table_path}\nplot: {plot_path}")
