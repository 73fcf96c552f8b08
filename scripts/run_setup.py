"""What every entry point does before it loads a model: parse the YAML config the TRL way
and reject a bad one with a message that names the key and the allowed values."""

import difflib
import importlib.util
import json
import logging

import torch
from trl import TrlParser


class ConfigError(ValueError):
    """A config mistake, reported as `config error: ...` before any model loads."""


def parse_config(dataclass_types, args=None):
    """`--config file.yaml` plus command-line overrides into the given dataclasses.

    TRL's parser already rejects unknown YAML keys; this also rejects unknown command-line
    flags and suggests the nearest real key for both.
    """
    parser = TrlParser(dataclass_types)
    try:
        *parsed, config_unknown, cli_unknown = parser.parse_args_and_config(
            args, return_remaining_strings=True, separate_remaining_strings=True)
    except ValueError as error:
        if not torch.cuda.is_available() and ("bf16" in str(error) or "fp16" in str(error)):
            raise ConfigError("bf16/fp16: mixed precision needs a GPU and none is visible; pass --bf16 false "
                              "(and --fp16 false), or use a CPU config such as configs/demo.yaml") from error
        raise ConfigError(str(error)) from error
    unknown = [item[2:].split("=")[0] for item in config_unknown + cli_unknown if item.startswith("--")]
    if unknown:
        known = [action.dest for action in parser._actions]
        hints = {key: difflib.get_close_matches(key, known, n=3) for key in unknown}
        raise ConfigError("unknown key(s): " + "; ".join(
            f"'{key}'" + (f" (did you mean {', '.join(close)}?)" if close else "") for key, close in hints.items())
            + "; every allowed key is listed by --help")
    if len(parsed) == 1:
        return parsed[0]
    return parsed


def parse_mapping(value, key: str) -> dict:
    """A dict-valued option: a YAML mapping, or JSON text from the command line."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{key}: not valid JSON ({error}); e.g. --{key} '{{\"cosine\": {{\"max_len\": 512}}}}'")
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value


def check_generation_backend(training_args) -> None:
    """vLLM needs the package and a CUDA GPU; say which to install or which flag to flip."""
    if not getattr(training_args, "use_vllm", False):
        return
    if training_args.vllm_mode not in ("colocate", "server"):
        raise ConfigError(f"vllm_mode: unknown '{training_args.vllm_mode}'; allowed: ['colocate', 'server']")
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("use_vllm: true, but vLLM is not installed: pip install -r requirements-gpu.txt "
                          "(needs a CUDA GPU), or pass --use_vllm false to generate with transformers")
    if not torch.cuda.is_available():
        raise ConfigError("use_vllm: true needs a CUDA GPU and none is visible; pass --use_vllm false "
                          "(or use configs/demo.yaml on CPU)")


def setup_logging(training_args) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=training_args.get_process_log_level())
