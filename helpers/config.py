"""What every entry point does before it loads a model: parse the YAML config the TRL way,
reject a bad one with a message that names the key and the allowed values, set up logging."""

import difflib
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from trl import TrlParser

logger = logging.getLogger(__name__)

# Set to 0 to run as if this CPU had no bf16 instructions (the fp32 path, on any machine), to 1 to use
# bf16 whatever its flags say (to measure emulated bf16); read only by cpu_bf16_override, so training,
# evaluation, the demo and the tests all follow it.
CPU_BF16_ENV = "R1_CPU_BF16"
# oneDNN kernel levels (ONEDNN_MAX_CPU_ISA) below AVX512_CORE_BF16: a process limited to one of them
# computes bf16 by conversion, whatever the CPU has.
ONEDNN_ISAS_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


class ConfigError(ValueError):
    """A config mistake, reported as `config error: ...` before any model loads."""


def parse_config(dataclass_types, args=None):
    """`--config file.yaml` plus command-line overrides into the given dataclasses.

    TRL's parser already rejects unknown YAML keys; this also rejects unknown command-line
    flags and suggests the nearest real key for both.
    """
    parser = TrlParser(dataclass_types)
    default_bf16_to_the_hardware(parser)
    try:
        *parsed, config_unknown, cli_unknown = parser.parse_args_and_config(
            args, return_remaining_strings=True, separate_remaining_strings=True)
    except ValueError as error:
        if "bf16" in str(error) and not torch.cuda.is_available():
            raise ConfigError("bf16: true needs a GPU, or --use_cpu true to compute in bf16 on a CPU with AVX512-BF16 "
                              "or AMX; otherwise pass --bf16 false") from error
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


@dataclass
class RunArguments:
    """What a training script does with its config."""

    check_only: bool = field(default=False, metadata={
        "help": "Check the config, the data, the rewards and the model's tokenizer, log the precision, and stop "
                "before loading the weights: seconds, not the run (scripts/demo.sh checks every stage this way)."})


@dataclass
class TrainRunArguments(RunArguments):
    """What a training script does with its config, and for how long it may train."""

    max_train_seconds: float | None = field(default=None, metadata={
        "help": "Stop at the end of the first step that ends this many seconds after training began (start-up "
                "not counted; per invocation: a resumed run gets it afresh, skipping the batches already "
                "trained counts) and save as at max_steps. The learning-rate schedule still runs to max_steps: "
                "use lr_scheduler_type constant. For runs of equal wall time (scripts/bench_learning.py's SFT "
                "baseline)."})

    def __post_init__(self):
        if self.max_train_seconds is not None and not (math.isfinite(self.max_train_seconds)
                                                       and self.max_train_seconds > 0):
            raise ConfigError(f"max_train_seconds: {self.max_train_seconds}; allowed: a number of seconds > 0, "
                              "or unset for no limit")


def cpu_bf16_override() -> bool | None:
    """R1_CPU_BF16: False for 0, True for 1, None (follow the CPU) when unset."""
    return {"0": False, "1": True}.get(os.environ.get(CPU_BF16_ENV, ""))


def runs_on_cpu(training_args) -> bool:
    return training_args.use_cpu or not torch.cuda.is_available()


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (empty where /proc/cpuinfo is missing)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1] for line in lines if line.startswith("flags")), "").split())


def cpu_supports_bf16() -> bool:
    """AVX512-BF16 or AMX, read off the CPU's own flags: bf16 matmuls run about 2x faster than fp32
    there. Without them bf16 is converted in software: plain AVX-512 CPUs (Skylake-SP, Cascade Lake,
    Ice Lake) and AVX2 ones get fp32 (docs/precision.md has the measurements). oneDNN's own
    test (`_is_mkldnn_bf16_supported`) says yes on every AVX-512 CPU, so it is not asked.
    R1_CPU_BF16 (0 or 1) overrides the answer."""
    override = cpu_bf16_override()
    if override is not None:
        return override
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ONEDNN_ISAS_WITHOUT_BF16:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def default_bf16_to_the_hardware(parser) -> None:
    """A TRL config that leaves `bf16` unset gets TRL's rule on a GPU (bf16 unless fp16) and the CPU's
    answer without one: bf16 compute where the CPU has bf16 instructions, fp32 where it has not.

    TRL declares `bf16: None` ("not set") and turns it into True in `__post_init__`; this changes only
    that default, so `bf16:` in the YAML or `--bf16` on the command line still wins.
    """
    if torch.cuda.is_available():
        return
    for action in parser._actions:
        if action.dest == "bf16" and action.default is None:
            action.default = cpu_supports_bf16()


def precision_summary(training_args) -> str:
    """One line: what the run computes in, and why."""
    if not runs_on_cpu(training_args):
        compute = "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32"
        return f"precision: {compute} compute, fp32 weights (GPU)"
    override = cpu_bf16_override()
    if training_args.bf16:
        why = f"{CPU_BF16_ENV}=1: bf16 whatever the CPU's flags" if override else "this CPU has AVX512-BF16/AMX"
        return f"precision: bf16 compute, fp32 weights ({why})"
    if override:
        return f"precision: fp32 compute (bf16: false; {CPU_BF16_ENV}=1 would allow bf16 here)"
    if cpu_supports_bf16():
        return "precision: fp32 compute (bf16: false); this CPU has AVX512-BF16/AMX, bf16 would be ~2x faster"
    if override is False:
        return f"precision: fp32 compute ({CPU_BF16_ENV}=0: as if this CPU had no AVX512-BF16/AMX)"
    return "precision: fp32 compute (this CPU has no AVX512-BF16/AMX); bf16 would be ~2x faster on one that has"


def check_precision(training_args, model_args) -> None:
    """fp32 master weights, low-precision compute: the one combination in which small updates survive.

    Loaded in bf16, the weights themselves are bf16 and the Trainer keeps no fp32 copy: an AdamW
    step at lr 1e-6 changed 0.4 % of SmolLM2's weights (99.9 % in fp32). `bf16: true` keeps
    fp32 weights and optimizer state and computes in bf16 (autocast).
    """
    if model_args.dtype in ("bfloat16", "float16", "auto") and not model_args.use_peft:
        raise ConfigError(
            f"dtype: {model_args.dtype} would store the trained weights themselves in low precision, and full-"
            f"parameter AdamW updates round away (at lr 1e-6, 0.4 % of weights change in bf16 vs 99.9 % in fp32); "
            f"allowed: float32 (add bf16: true for bf16 compute), or a low-precision dtype with use_peft: true")
    on_cpu = runs_on_cpu(training_args)
    if on_cpu and training_args.fp16:
        raise ConfigError("fp16: needs a CUDA GPU and none is visible; allowed on CPU: bf16: true (if the CPU "
                          "supports it) or fp16: false")
    if on_cpu and training_args.bf16 and not cpu_supports_bf16():
        raise ConfigError("bf16: true, but this CPU has no bf16 instructions (AVX512-BF16 or AMX) and no GPU is "
                          "visible; pass --bf16 false, or leave bf16 unset to follow the hardware")
    logger.info(precision_summary(training_args))


# The loggers of this project's own modules: what they say (rows dropped, precision, resume) is for the user.
PROJECT_LOGGERS = ("train_grpo", "train_sft", "data", "rewards", "helpers")


def setup_logging(level: int = logging.INFO, main_process: bool = True) -> None:
    """Log lines a user can act on; progress bars of dataset maps and weight loading are noise.

    `level` is the libraries' level (TRL's `get_process_log_level()`); this project's own messages
    are shown at INFO on the main process whatever it is, and at `level` on the other processes.
    """
    import datasets
    import transformers

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(min(level, logging.INFO) if main_process else level)
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
