"""Startup time: from the command to the first training step, for the demo config.

    python scripts/bench_startup.py --output outputs/bench/startup.json

Runs `train_grpo.py --config configs/demo_zero.yaml --max_steps 1` and splits its wall time into
startup (imports, config checks, data, model load, math-verify workers), the first step
(TRL's `step_time`) and the rest (saving).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/demo_zero.yaml")
    parser.add_argument("--output", type=Path, default=Path("outputs/bench/startup.json"))
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "train_grpo.py", "--config", args.config, "--max_steps", "1", "--save_strategy", "no",
               "--output_dir", out, *extra]
        start = time.perf_counter()
        result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(result.stderr[-3000:])
        history = json.loads((Path(out) / "trainer_state.json").read_text())["log_history"]
    step = next(entry["step_time"] for entry in history if "step_time" in entry)
    runtime = next(entry["train_runtime"] for entry in history if "train_runtime" in entry)
    numbers = {"config": args.config, "wall_s": wall, "first_step_s": step,
               "startup_to_first_step_s": wall - runtime, "train_runtime_s": runtime}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(numbers, indent=2))
    print(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
