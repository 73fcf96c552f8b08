"""Plot training curves from runs' logs: one panel per reward, plus total reward and length.

    python scripts/plot_metrics.py outputs/demo outputs/demo_r1 --output curves.png

Reads `trainer_state.json` from each run folder (or its newest checkpoint); several runs overlay.
"""

import argparse
from pathlib import Path

from helpers.plots import plot

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, default=Path("curves.png"))
    args = parser.parse_args()
    print(plot(args.runs, args.output))
