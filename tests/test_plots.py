"""helpers/plots.py: curves drawn from a run's trainer_state.json."""

import json

from helpers.plots import plot


def test_the_plot_is_drawn_from_the_log_history(tmp_path):
    run = tmp_path / "zero"
    run.mkdir()
    history = [{"step": s, "loss": 0.1, "reward": s / 10, "rewards/accuracy/mean": s / 20,
                "completions/mean_length": 40 - s} for s in (1, 2, 3)]
    (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    png = plot([run], tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
