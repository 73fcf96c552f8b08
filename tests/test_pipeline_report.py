"""scripts/pipeline_report.py: one table row per stage and benchmark, from the evaluation JSONs."""

import json

from scripts.pipeline_report import markdown_table


def test_report_table_has_a_row_per_stage_and_benchmark(tmp_path):
    (tmp_path / "eval").mkdir()
    for stage, acc in [("base", 0.25), ("zero", 0.5)]:
        metrics = {"n": 4, "pass@1": acc, "format_rate": 0.0, "mean_length": 30.0}
        (tmp_path / "eval" / f"{stage}.json").write_text(json.dumps({"benchmarks": {"gsm8k": metrics}}))
    table = markdown_table(tmp_path)
    assert table.splitlines()[0] == "| stage | benchmark | n | pass@1 | format_rate | mean_length |"
    assert table.splitlines()[2:] == ["| base | gsm8k | 4 | 0.250 | 0.000 | 30.000 |",
                                      "| zero | gsm8k | 4 | 0.500 | 0.000 | 30.000 |"]
