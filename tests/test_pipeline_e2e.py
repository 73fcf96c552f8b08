"""The whole R1 pipeline with its second round, CPU demo variant, on the real SmolLM2 model (~10 minutes)."""

import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, SHARED_DATA

from helpers.config import ConfigError
from scripts.check_stages import check_stage, stages

STAGES = ["base", "zero", "sft", "r1", "r1_final"]


@pytest.mark.slow
def test_the_demo_pipeline_produces_every_artifact_and_resumes(tmp_path, smollm2_checkpoint):
    out = tmp_path / "pipeline"
    env = os.environ | {"OUT": str(out), "GSM8K_SOURCE": str(SHARED_DATA / "gsm8k"),
                        "MATH500_SOURCE": str(SHARED_DATA / "math500"), "SECOND_ROUND": "1"}
    run = subprocess.run(["bash", "scripts/run_r1_pipeline.sh", "--demo"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]

    for stage in ("zero", "sft", "r1", "sft2", "r1_final"):
        assert (out / stage / "model.safetensors").exists(), stage
    for stage in STAGES:
        assert (out / "eval" / f"{stage}.json").exists(), stage
    for sampled in ("rejection_sampled", "rejection_sampled_r1"):  # from R1-Zero and from the reasoning-RL model
        assert (out / f"{sampled}.jsonl").exists() and (out / f"{sampled}.json").exists()
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"

    rows = [line for line in (out / "report.md").read_text().splitlines()[2:] if line.startswith("|")]
    assert [row.split("|")[1].strip() for row in rows] == [s for s in STAGES for _ in ("gsm8k", "math500")]
    assert all(row.split("|")[2].strip() in ("gsm8k", "math500") for row in rows)

    # Every stage's output exists now, so a re-run skips all the work.
    again = subprocess.run(["bash", "scripts/run_r1_pipeline.sh", "--demo"], cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert again.stdout.count("skip:") == 12  # 5 evaluations, 5 trainings, 2 rejection samplings


def test_a_bad_argument_for_a_late_stage_stops_the_pipeline_before_stage_1(tmp_path):
    """Rejection sampling is stage 4, after an R1-Zero run: its mistake must not cost that run."""
    env = os.environ | {"OUT": str(tmp_path / "pipeline"), "RS_ARGS": "--num_samplez 2"}
    run = subprocess.run(["bash", "scripts/run_r1_pipeline.sh", "--demo"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "unknown key(s): 'num_samplez'" in run.stderr
    assert "=== 1/" not in run.stdout


def test_the_stage_checker_splits_its_command_line_per_stage_and_names_the_scripts_it_checks():
    argv = ["./train_sft.py", "--max_steps", "2", ":::", "scripts/rejection_sample.py", "--model", "m", ":::"]
    assert stages(argv) == [("train_sft.py", ["--max_steps", "2"]), ("scripts/rejection_sample.py", ["--model", "m"])]
    with pytest.raises(ConfigError, match="scripts/evaluate.py is not a stage script; allowed: train_grpo.py"):
        check_stage("scripts/evaluate.py", [])
    with pytest.raises(ConfigError, match="no stage given"):
        stages([":::"])


def test_the_stage_checker_checks_every_stage_and_names_the_one_that_fails(smollm2_checkpoint):
    good = ["train_grpo.py", "--config", "configs/demo_zero.yaml", "--model_name_or_path", str(smollm2_checkpoint)]
    bad = ["train_sft.py", "--config", "configs/demo_sft.yaml", "--model_name_or_path", str(smollm2_checkpoint),
           "--max_stepz", "1"]
    run = subprocess.run([sys.executable, "-m", "scripts.check_stages", *good, ":::", *bad], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "check ok: train_grpo.py" in run.stdout and "check ok: train_sft.py" not in run.stdout
    assert "config error: train_sft.py: unknown key(s): 'max_stepz'" in run.stderr
    assert "checking stage 2: train_sft.py" in run.stderr
