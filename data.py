"""Datasets for R1-style training.

RL (train_grpo.py): every example becomes a chat `prompt` and a gold `solution`.
SFT (train_sft.py): every example becomes a chat `prompt` and an assistant `completion`
written in the prompt template's tags, so SFT teaches exactly the format RL rewards.

Sources, chosen by `dataset_name` in the config:
  * a Hub id: openai/gsm8k (config main), AI-MO/NuminaMath-TIR, HuggingFaceH4/MATH-500;
  * a local jsonl/json/parquet file, or a folder of `<split>.jsonl` files, in the same schema
    (set `dataset_format`, since a path does not say which schema it holds);
  * `arithmetic`: verifiable arithmetic word problems generated here in GSM8K's schema,
    seeded and deterministic, so the demo needs no download.

Rows whose gold answer cannot be extracted are dropped, counted and logged.
"""

import logging
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from datasets import Dataset, concatenate_datasets, load_dataset
from trl import ScriptArguments

from rewards import last_boxed

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent
ARITHMETIC = "arithmetic"


@dataclass
class DataArguments(ScriptArguments):
    """Which data to train on and how to prompt for it (plus TRL's dataset_name/_config/_train_split)."""

    dataset_format: str | None = field(
        default=None,
        metadata={"help": "Schema of the data. RL: gsm8k, numina_tir, math500; SFT: bespoke_stratos, "
                          "prompt_completion. Inferred for known Hub ids and `arithmetic`; required for local files."},
    )
    extra_train_files: list[str] | None = field(
        default=None,
        metadata={"help": "SFT: more local jsonl files in prompt_completion format (e.g. rejection-sampled "
                          "traces) to train on alongside dataset_name."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N examples."})
    arithmetic_size: int = field(default=1000, metadata={"help": "Problems to generate for `arithmetic`."})
    arithmetic_seed: int = field(default=0, metadata={"help": "Seed of the `arithmetic` generator."})
    prompt_template: str = field(default="r1_zero", metadata={"help": "A template name from prompt_templates_file."})
    prompt_templates_file: str = field(default=str(REPO_ROOT / "configs" / "prompts.yaml"))


# --------------------------------------------------------------------------- gold answers


def gsm8k_gold(answer: str) -> str | None:
    """GSM8K's gold: the number after the last `####`, without thousands separators or `$`."""
    if not isinstance(answer, str) or "####" not in answer:
        return None
    gold = answer.rsplit("####", 1)[1].strip().replace(",", "").replace("$", "")
    return gold if re.fullmatch(r"-?\d+(?:\.\d+)?", gold) else None


def boxed_gold(solution: str) -> str | None:
    """The content of the last `\\boxed{}` of a worked solution (NuminaMath-TIR)."""
    boxed = last_boxed(solution) if isinstance(solution, str) else None
    gold = boxed[len("\\boxed{") : -1].strip() if boxed else ""
    return gold or None


def plain_gold(answer) -> str | None:
    """A gold answer column as it is (MATH-500's `answer`)."""
    if not isinstance(answer, str) or not answer.strip():
        return None
    return answer.strip()


@dataclass(frozen=True)
class Schema:
    problem_column: str
    gold_column: str
    gold: callable


SCHEMAS = {
    "gsm8k": Schema("question", "answer", gsm8k_gold),
    "numina_tir": Schema("problem", "solution", boxed_gold),
    "math500": Schema("problem", "answer", plain_gold),
}
HUB_FORMATS = {"openai/gsm8k": "gsm8k", "AI-MO/NuminaMath-TIR": "numina_tir", "HuggingFaceH4/MATH-500": "math500",
               "bespokelabs/Bespoke-Stratos-17k": "bespoke_stratos"}
HUB_CONFIGS = {"openai/gsm8k": "main"}


def resolve_format(dataset_name: str, dataset_format: str | None, allowed=SCHEMAS) -> str:
    """The schema name for a source, or ValueError naming the key and the allowed values."""
    if dataset_format is None:
        dataset_format = "gsm8k" if dataset_name == ARITHMETIC else HUB_FORMATS.get(dataset_name)
    if dataset_format is None:
        raise ValueError(f"dataset_format: required for dataset_name '{dataset_name}' (not a known Hub id); "
                         f"allowed: {sorted(allowed)}")
    if dataset_format not in allowed:
        raise ValueError(f"dataset_format: unknown '{dataset_format}'; allowed: {sorted(allowed)}")
    return dataset_format


# --------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class PromptTemplate:
    system_prompt: str
    reasoning_tag: str
    answer_tag: str

    def messages(self, problem: str) -> list[dict]:
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": problem}]

    def completion(self, reasoning: str, answer: str) -> str:
        """An assistant turn in this template's layout (what `format` and `tag_count` pay for)."""
        r, a = self.reasoning_tag, self.answer_tag
        return f"<{r}>\n{reasoning}\n</{r}>\n<{a}>\n{answer}\n</{a}>"


def load_prompt_template(name: str, path: str | Path) -> PromptTemplate:
    templates = yaml.safe_load(Path(path).read_text())
    if name not in templates:
        raise ValueError(f"prompt_template: unknown '{name}'; allowed (from {path}): {sorted(templates)}")
    template = PromptTemplate(**templates[name])
    for tag in (template.reasoning_tag, template.answer_tag):
        if f"<{tag}>" not in template.system_prompt:
            raise ValueError(f"prompt_template '{name}': its system_prompt never shows the <{tag}> tag the rewards "
                             f"look for; fix {path}")
    return template


# --------------------------------------------------------------------------- loading


def load_raw(dataset_name: str, dataset_config: str | None = None, split: str = "train",
             arithmetic_size: int = 1000, arithmetic_seed: int = 0) -> Dataset:
    """Rows in the source's own schema, from the generator, a local file/folder or the Hub."""
    if dataset_name == ARITHMETIC:
        return arithmetic_problems(arithmetic_size, arithmetic_seed)
    path = Path(dataset_name)
    if path.is_file():
        builder = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
        if builder is None:
            raise ValueError(f"dataset_name: cannot read '{path}'; allowed file types: .jsonl, .json, .parquet")
        return load_dataset(builder, data_files=str(path), split="train")
    if path.is_dir():
        return load_dataset(str(path), split=split)
    return load_dataset(dataset_name, dataset_config or HUB_CONFIGS.get(dataset_name), split=split)


def require_columns(raw: Dataset, columns, dataset_format: str, source: str) -> None:
    missing = [c for c in columns if c not in raw.column_names]
    if missing:
        raise ValueError(f"dataset {source}: missing column(s) {missing} for dataset_format '{dataset_format}'; "
                         f"it has {raw.column_names}")


def to_rl_dataset(raw: Dataset, dataset_format: str, template: PromptTemplate, source: str = "") -> Dataset:
    """Map rows to {prompt, solution}; drop (and count) rows without a problem or a gold answer."""
    schema = SCHEMAS[dataset_format]
    require_columns(raw, (schema.problem_column, schema.gold_column), dataset_format, source)

    def convert(row):
        problem = row[schema.problem_column]
        gold = schema.gold(row[schema.gold_column])
        ok = isinstance(problem, str) and problem.strip() and gold is not None
        return {"prompt": template.messages(problem.strip()) if ok else None, "solution": gold if ok else None}

    converted = raw.map(convert, remove_columns=raw.column_names)
    kept = converted.filter(lambda row: row["solution"] is not None)
    _log_dropped(len(converted), len(kept), source or dataset_format, "with no extractable gold answer or problem")
    return kept


def _log_dropped(before: int, after: int, source: str, why: str):
    if before != after:
        logger.warning("dropped %d of %d rows of %s %s", before - after, before, source, why)


def load_rl_dataset(args: DataArguments, split: str | None = None) -> Dataset:
    """The configured dataset as {prompt, solution} rows, ready for GRPOTrainer."""
    dataset_format = resolve_format(args.dataset_name, args.dataset_format)
    template = load_prompt_template(args.prompt_template, args.prompt_templates_file)
    raw = load_raw(args.dataset_name, args.dataset_config, split or args.dataset_train_split,
                   args.arithmetic_size, args.arithmetic_seed)
    if args.max_train_samples is not None:
        raw = raw.select(range(min(args.max_train_samples, len(raw))))
    return to_rl_dataset(raw, dataset_format, template, source=args.dataset_name)


# --------------------------------------------------------------------------- SFT traces

_THOUGHT = re.compile(r"<\|begin_of_thought\|>(.*?)<\|end_of_thought\|>", re.DOTALL)
_SOLUTION = re.compile(r"<\|begin_of_solution\|>(.*?)<\|end_of_solution\|>", re.DOTALL)
# Bespoke-Stratos asks for \boxed{} in each user turn; our system prompt sets the format instead.
_BOXED_INSTRUCTION = "Return your final response within \\boxed{}."
SFT_FORMATS = ("bespoke_stratos", "prompt_completion")


def bespoke_to_prompt_completion(row: dict, template: PromptTemplate) -> dict | None:
    """A Bespoke-Stratos row as {prompt, completion} in the template's tags, or None if malformed."""
    turns = row.get("conversations") or []
    user = next((t["value"] for t in turns if t.get("from") == "user"), None)
    assistant = next((t["value"] for t in reversed(turns) if t.get("from") == "assistant"), None)
    if not isinstance(user, str) or not isinstance(assistant, str):
        return None
    thought, solution = _THOUGHT.search(assistant), _SOLUTION.search(assistant)
    problem = user.replace(_BOXED_INSTRUCTION, "").strip()
    if not (thought and solution and problem and thought.group(1).strip() and solution.group(1).strip()):
        return None
    completion = template.completion(thought.group(1).strip(), solution.group(1).strip())
    return {"prompt": template.messages(problem), "completion": [{"role": "assistant", "content": completion}]}


def to_sft_dataset(raw: Dataset, dataset_format: str, template: PromptTemplate, source: str = "") -> Dataset:
    """Rows as {prompt, completion}; malformed rows are dropped and counted."""
    if dataset_format == "prompt_completion":
        require_columns(raw, ("prompt", "completion"), dataset_format, source)
        return raw.select_columns(["prompt", "completion"])
    require_columns(raw, ("conversations",), dataset_format, source)
    rows = [bespoke_to_prompt_completion(row, template) for row in raw]
    kept = [row for row in rows if row is not None]
    _log_dropped(len(rows), len(kept), source or dataset_format, "without thought/solution markers")
    return Dataset.from_list(kept)


def load_sft_dataset(args: DataArguments) -> Dataset:
    """The configured SFT data (plus `extra_train_files`) as {prompt, completion} rows."""
    template = load_prompt_template(args.prompt_template, args.prompt_templates_file)
    sources = [(args.dataset_name, resolve_format(args.dataset_name, args.dataset_format, SFT_FORMATS))]
    for path in args.extra_train_files or []:
        if Path(path).stat().st_size == 0:  # e.g. rejection sampling accepted nothing
            logger.warning("extra_train_files: %s is empty, skipping it", path)
        else:
            sources.append((path, "prompt_completion"))
    parts = []
    for name, dataset_format in sources:
        raw = load_raw(name, args.dataset_config, args.dataset_train_split)
        if args.max_train_samples is not None:
            raw = raw.select(range(min(args.max_train_samples, len(raw))))
        parts.append(to_sft_dataset(raw, dataset_format, template, source=name))
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


# --------------------------------------------------------------------------- embedded problems

_NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
_ITEMS = ["apples", "stickers", "marbles", "books", "pencils", "cookies", "stamps", "shells"]


def _problem(rng: random.Random) -> tuple[str, list[str], int]:
    """One word problem: (question, worked steps with GSM8K's <<calc>> notes, answer)."""
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    kind = rng.randrange(4)
    if kind == 0:
        a, b = rng.randint(5, 60), rng.randint(2, 40)
        c = rng.randint(1, a + b - 1)
        return (f"{name} has {a} {item}. {name} gets {b} more and then gives away {c}. "
                f"How many {item} does {name} have now?",
                [f"{a}+{b}=<<{a}+{b}={a + b}>>{a + b}", f"{a + b}-{c}=<<{a + b}-{c}={a + b - c}>>{a + b - c}"],
                a + b - c)
    if kind == 1:
        a, b = rng.randint(2, 12), rng.randint(2, 15)
        return (f"A box holds {a} {item}. {name} fills {b} boxes. How many {item} is that?",
                [f"{a}*{b}=<<{a}*{b}={a * b}>>{a * b}"], a * b)
    if kind == 2:
        rate, hours = rng.randint(8, 30), rng.randint(2, 9)
        spent = rng.randint(1, rate * hours - 1)
        left = rate * hours - spent
        return (f"{name} earns ${rate} an hour and works {hours} hours. {name} then spends ${spent}. "
                f"How many dollars does {name} have left?",
                [f"{rate}*{hours}=<<{rate}*{hours}={rate * hours}>>{rate * hours}",
                 f"{rate * hours}-{spent}=<<{rate * hours}-{spent}={left}>>{left}"], left)
    friends, each = rng.randint(2, 9), rng.randint(2, 12)
    total = friends * each
    return (f"{name} shares {total} {item} equally among {friends} friends. How many {item} does each friend get?",
            [f"{total}/{friends}=<<{total}/{friends}={each}>>{each}"], each)


def arithmetic_problems(n: int, seed: int = 0) -> Dataset:
    """`n` arithmetic word problems in GSM8K's schema (question, answer ending in `#### N`)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        question, steps, answer = _problem(rng)
        rows.append({"question": question, "answer": "\n".join(steps) + f"\n#### {answer}"})
    return Dataset.from_list(rows)
