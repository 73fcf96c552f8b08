"""Shared helpers of the entry points; nothing here is run directly.

    config.py       parse a YAML config the TRL way, ConfigError, precision checks, logging
    training.py     the run around TRL's trainers: model loading, resume, progress line, stop on NaN
    verify_pool.py  math-verify in killable worker processes (used by rewards.py)
    generation.py   sampling for evaluation and rejection sampling: vLLM or transformers
    plots.py        reward and length curves from trainer_state.json

The modules users edit and read first are at the top level: rewards.py and data.py.
"""
