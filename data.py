"""Datasets for R1-style training.

RL (train_grpo.py): every example becomes a chat `prompt` and a gold `solution`.
SFT (train_sft.py): every example becomes a chat `prompt` and an assistant `completion`
written in the prompt template's tags, so SFT teaches exactly the format RL rewards:
Bespoke-Stratos traces, or GSM8K-schema worked solutions (GSM8K itself, or `arithmetic`).

Sources, chosen by `dataset_name` in the config:
  * a Hub id: openai/gsm8k (config main), AI-MO/NuminaMath-TIR, HuggingFaceH4/MATH-500;
  * a local jsonl/json/parquet file, or a folder of `<split>.jsonl` files, in the same schema
    (set `dataset_format`, since a path does not say which schema it holds);
  * `arithmetic`: verifiable arithmetic word problems generated here in GSM8K's schema,
    seeded and deterministic, so the demo needs no download; every possible problem belongs to
    `train` or `test` by a hash of its kind and numbers (problem_split), so evaluation is held out
    by construction.

Rows whose gold answer cannot be extracted are dropped, counted and logged; a source, schema
or template that cannot work is a ConfigError naming the key.
"""

import hashlib
import logging
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from datasets import Dataset, concatenate_datasets, load_dataset
from trl import ScriptArguments

from helpers.config import ConfigError
from rewards import boxed_groups, usable_golds

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent
ARITHMETIC = "arithmetic"
REWORDED = "arithmetic_reworded"  # an evaluation benchmark: `arithmetic` in ARITHMETIC_WORDINGS["reworded"]


@dataclass
class TemplateArguments:
    """The prompt template: a system prompt and the tags it asks for, by name from a YAML file."""

    prompt_template: str = field(default="r1_zero", metadata={"help": "A template name from prompt_templates_file."})
    prompt_templates_file: str = field(default=str(REPO_ROOT / "configs" / "prompts.yaml"))


@dataclass
class DataArguments(ScriptArguments, TemplateArguments):
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
    max_completion_tokens: int | None = field(
        default=None, metadata={"help": "SFT: drop traces whose assistant turn is longer than this many tokens. Set "
                                        "it to the RL stage's max_completion_length: a model taught longer traces "
                                        "is cut off there, and a truncated completion scores 0."})
    arithmetic_size: int = field(default=1000, metadata={"help": "Problems to generate for `arithmetic`."})
    arithmetic_seed: int = field(default=0, metadata={"help": "Seed of the `arithmetic` generator."})
    arithmetic_kinds: list[str] | None = field(
        default=None, metadata={"help": "Kinds of `arithmetic` problems (all by default): add_sub, multiply, "
                                        "wage, share."})
    arithmetic_wording: str = field(
        default="generator", metadata={"help": "How `arithmetic` questions are worded (data.ARITHMETIC_WORDINGS): "
                                               "generator (one wording per kind), varied (three), or reworded (the "
                                               "same problems in words kept out of both, for evaluation)."})


# --------------------------------------------------------------------------- gold answers


def gsm8k_gold(answer: str) -> str | None:
    """GSM8K's gold: the number after the last `####`, without thousands separators or `$`."""
    if not isinstance(answer, str) or "####" not in answer:
        return None
    gold = answer.rsplit("####", 1)[1].strip().replace(",", "").replace("$", "")
    return gold if re.fullmatch(r"-?\d+(?:\.\d+)?", gold) else None


def boxed_gold(solution: str) -> str | None:
    """The content of the last `\\boxed{}` of a worked solution (NuminaMath-TIR)."""
    boxes = boxed_groups(solution) if isinstance(solution, str) else []
    return boxes[-1].strip() or None if boxes else None


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
    """The schema name for a source, or ConfigError naming the key and the allowed values."""
    if dataset_format is None:
        dataset_format = "gsm8k" if dataset_name == ARITHMETIC else HUB_FORMATS.get(dataset_name)
    if dataset_format is None:
        raise ConfigError(f"dataset_format: required for dataset_name '{dataset_name}' (not a known Hub id); "
                         f"allowed: {sorted(allowed)}")
    if dataset_format not in allowed:
        raise ConfigError(f"dataset_format: unknown '{dataset_format}'; allowed: {sorted(allowed)}")
    return dataset_format


# --------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class PromptTemplate:
    """A system prompt and the tags it asks for; tags None: no tags, the last `\\boxed{}` is the answer."""

    system_prompt: str
    reasoning_tag: str | None
    answer_tag: str | None

    def messages(self, problem: str) -> list[dict]:
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": problem}]

    def completion(self, reasoning: str, answer: str) -> str:
        """An assistant turn in this template's layout (what `format` and `tag_count` pay for)."""
        r, a = self.reasoning_tag, self.answer_tag
        return f"<{r}>\n{reasoning}\n</{r}>\n<{a}>\n{answer}\n</{a}>"


def load_prompt_template(name: str, path: str | Path, for_training: bool = False) -> PromptTemplate:
    """A template by name. Training needs one that asks for tags: the rewards and SFT traces use them."""
    if not Path(path).is_file():
        raise ConfigError(f"prompt_templates_file: '{path}' is not a file")
    templates = yaml.safe_load(Path(path).read_text())
    allowed = sorted(n for n, t in templates.items() if not for_training or (t["reasoning_tag"] and t["answer_tag"]))
    if name not in allowed:
        why = "asks for no tags, so it is for evaluation only" if name in templates else "unknown"
        raise ConfigError(f"prompt_template: '{name}' {why}; allowed (from {path}): {allowed}")
    template = PromptTemplate(**templates[name])
    for tag in (template.reasoning_tag, template.answer_tag):
        if tag is not None and f"<{tag}>" not in template.system_prompt:
            raise ConfigError(f"prompt_template '{name}': its system_prompt never shows the <{tag}> tag the rewards "
                             f"look for; fix {path}")
    return template


# --------------------------------------------------------------------------- loading


def load_raw(dataset_name: str, dataset_config: str | None = None, split: str = "train", arithmetic_size: int = 1000,
             arithmetic_seed: int = 0, arithmetic_kinds: list[str] | None = None,
             arithmetic_wording: str = "generator") -> Dataset:
    """Rows in the source's own schema, from the generator, a local file/folder or the Hub."""
    if dataset_name == ARITHMETIC:
        return arithmetic_problems(arithmetic_size, arithmetic_seed, arithmetic_kinds, arithmetic_wording, split)
    path = Path(dataset_name)
    if path.is_file():
        builder = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
        if builder is None:
            raise ConfigError(f"dataset_name: cannot read '{path}'; allowed file types: .jsonl, .json, .parquet")
        return load_dataset(builder, data_files=str(path), split="train")
    if path.is_dir():
        return load_dataset(str(path), split=split)
    return load_dataset(dataset_name, dataset_config or HUB_CONFIGS.get(dataset_name), split=split)


def require_columns(raw: Dataset, columns, dataset_format: str, source: str) -> None:
    missing = [c for c in columns if c not in raw.column_names]
    if missing:
        raise ConfigError(f"dataset {source}: missing column(s) {missing} for dataset_format '{dataset_format}'; "
                         f"it has {raw.column_names}")


def to_rl_dataset(raw: Dataset, dataset_format: str, template: PromptTemplate, source: str = "",
                  keep_source_row: bool = False) -> Dataset:
    """Map rows to {prompt, solution} (and `source_row`, the row's index in `raw`, if asked); drop
    (and count) rows without a problem or a gold answer that reads as math."""
    schema = SCHEMAS[dataset_format]
    require_columns(raw, (schema.problem_column, schema.gold_column), dataset_format, source)

    def convert(row, index):
        problem = row[schema.problem_column]
        gold = schema.gold(row[schema.gold_column])
        ok = isinstance(problem, str) and problem.strip() and gold is not None
        return {"prompt": template.messages(problem.strip()) if ok else None, "solution": gold if ok else None} \
            | ({"source_row": index} if keep_source_row else {})

    converted = raw.map(convert, with_indices=True, remove_columns=raw.column_names)
    kept = converted.filter(lambda row: row["solution"] is not None)
    # A gold that is not math would score every answer None (or, worse, a word salad 1.0).
    kept = kept.select([i for i, ok in enumerate(usable_golds(kept["solution"])) if ok])
    _log_dropped(len(converted), len(kept), source or dataset_format, "with no usable gold answer or problem")
    return kept


def _log_dropped(before: int, after: int, source: str, why: str):
    if before != after:
        logger.warning("dropped %d of %d rows of %s %s", before - after, before, source, why)


def load_rl_source(args: DataArguments, split: str | None = None) -> tuple[Dataset, str]:
    """The configured training rows in their source's own schema (the first `max_train_samples`), and
    that schema's name."""
    dataset_format = resolve_format(args.dataset_name, args.dataset_format)
    raw = load_raw(args.dataset_name, args.dataset_config, split or args.dataset_train_split,
                   args.arithmetic_size, args.arithmetic_seed, args.arithmetic_kinds, args.arithmetic_wording)
    if args.max_train_samples is not None:
        raw = raw.select(range(min(args.max_train_samples, len(raw))))
    return raw, dataset_format


def load_rl_dataset(args: DataArguments, split: str | None = None) -> Dataset:
    """The configured dataset as {prompt, solution} rows, ready for GRPOTrainer."""
    template = load_prompt_template(args.prompt_template, args.prompt_templates_file, for_training=True)
    raw, dataset_format = load_rl_source(args, split)
    return to_rl_dataset(raw, dataset_format, template, source=args.dataset_name)


# --------------------------------------------------------------------------- SFT traces

_THOUGHT = re.compile(r"<\|begin_of_thought\|>(.*?)<\|end_of_thought\|>", re.DOTALL)
_SOLUTION = re.compile(r"<\|begin_of_solution\|>(.*?)<\|end_of_solution\|>", re.DOTALL)
# Bespoke-Stratos asks for \boxed{} in each user turn; our system prompt sets the format instead.
_BOXED_INSTRUCTION = "Return your final response within \\boxed{}."
_CALCULATOR_NOTE = re.compile(r"<<[^>]*>>")
SFT_FORMATS = ("bespoke_stratos", "gsm8k", "prompt_completion")


def bespoke_to_prompt_completion(row: dict, template: PromptTemplate) -> dict | None:
    """A Bespoke-Stratos row as {prompt, completion} in the template's tags: thought and written-up
    solution as the reasoning, the solution's last `\\boxed{}` as the answer; None if malformed."""
    turns = row.get("conversations") or []
    user = next((t["value"] for t in turns if t.get("from") == "user"), None)
    assistant = next((t["value"] for t in reversed(turns) if t.get("from") == "assistant"), None)
    if not isinstance(user, str) or not isinstance(assistant, str):
        return None
    thought, solution = _THOUGHT.search(assistant), _SOLUTION.search(assistant)
    problem = user.replace(_BOXED_INSTRUCTION, "").strip()
    if not (thought and solution and problem and thought.group(1).strip() and solution.group(1).strip()):
        return None
    # The answer block holds the final answer only (what `accuracy` grades); the written-up
    # solution belongs to the reasoning. Rows without a final \boxed{} (proofs, code) are dropped.
    boxes = boxed_groups(solution.group(1))
    if not boxes or not boxes[-1].strip():
        return None
    completion = template.completion(thought.group(1).strip() + "\n\n" + solution.group(1).strip(), boxes[-1].strip())
    return {"prompt": template.messages(problem), "completion": [{"role": "assistant", "content": completion}]}


def gsm8k_to_prompt_completion(row: dict, template: PromptTemplate) -> dict | None:
    """A GSM8K-schema row as {prompt, completion}: the worked solution (calculator notes
    removed) is the reasoning, the gold number the answer. None if malformed."""
    question, answer = row.get("question"), row.get("answer")
    gold = gsm8k_gold(answer)
    if not isinstance(question, str) or not question.strip() or gold is None:
        return None
    reasoning = _CALCULATOR_NOTE.sub("", answer.rsplit("####", 1)[0]).strip()
    if not reasoning:
        return None
    completion = template.completion(reasoning, gold)
    return {"prompt": template.messages(question.strip()), "completion": [{"role": "assistant", "content": completion}]}


TRACE_CONVERTERS = {"bespoke_stratos": (("conversations",), bespoke_to_prompt_completion),
                    "gsm8k": (("question", "answer"), gsm8k_to_prompt_completion)}


def to_sft_dataset(raw: Dataset, dataset_format: str, template: PromptTemplate, source: str = "") -> Dataset:
    """Rows as {prompt, completion}; malformed rows are dropped and counted."""
    if dataset_format == "prompt_completion":
        require_columns(raw, ("prompt", "completion"), dataset_format, source)
        return raw.select_columns(["prompt", "completion"])
    columns, convert = TRACE_CONVERTERS[dataset_format]
    require_columns(raw, columns, dataset_format, source)
    rows = [convert(row, template) for row in raw]
    kept = [row for row in rows if row is not None]
    _log_dropped(len(rows), len(kept), source or dataset_format, "without a reasoning trace and final answer")
    return Dataset.from_list(kept)


def load_sft_dataset(args: DataArguments) -> Dataset:
    """The configured SFT data (plus `extra_train_files`) as {prompt, completion} rows."""
    template = load_prompt_template(args.prompt_template, args.prompt_templates_file, for_training=True)
    sources = [(args.dataset_name, resolve_format(args.dataset_name, args.dataset_format, SFT_FORMATS))]
    for path in args.extra_train_files or []:
        if Path(path).stat().st_size == 0:  # e.g. rejection sampling accepted nothing
            logger.warning("extra_train_files: %s is empty, skipping it", path)
        else:
            sources.append((path, "prompt_completion"))
    parts = []
    for name, dataset_format in sources:
        raw = load_raw(name, args.dataset_config, args.dataset_train_split, args.arithmetic_size,
                       args.arithmetic_seed, args.arithmetic_kinds, args.arithmetic_wording)
        if args.max_train_samples is not None:
            raw = raw.select(range(min(args.max_train_samples, len(raw))))
        parts.append(to_sft_dataset(raw, dataset_format, template, source=name))
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


# --------------------------------------------------------------------------- embedded problems

_NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
_ITEMS = ["apples", "stickers", "marbles", "books", "pencils", "cookies", "stamps", "shells"]


_OPS = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__, "/": int.__floordiv__}


def _calc(a: int, op: str, b: int) -> str:
    """`a op b = <<a op b=value>>value`: GSM8K's notation for a calculator step."""
    value = _OPS[op](a, b)
    return f"{a} {op} {b} = <<{a}{op}{b}={value}>>{value}"


def _add_sub(rng: random.Random, name: str, item: str) -> tuple[dict, list[str], int]:
    a, b = rng.randint(5, 60), rng.randint(2, 40)
    c = rng.randint(1, a + b - 1)
    return (dict(a=a, b=b, c=c),
            [f"After getting {b} more, {name} has {_calc(a, '+', b)} {item}.",
             f"After giving away {c}, {name} has {_calc(a + b, '-', c)} {item}."], a + b - c)


def _multiply(rng: random.Random, name: str, item: str) -> tuple[dict, list[str], int]:
    a, b = rng.randint(2, 12), rng.randint(2, 60)
    return dict(a=a, b=b), [f"{b} boxes of {a} {item} hold {_calc(b, '*', a)} {item}."], a * b


def _wage(rng: random.Random, name: str, item: str) -> tuple[dict, list[str], int]:
    rate, hours = rng.randint(8, 30), rng.randint(2, 9)
    spent = rng.randint(1, rate * hours - 1)
    return (dict(rate=rate, hours=hours, spent=spent),
            [f"{name} earns {_calc(rate, '*', hours)} dollars.",
             f"After spending {spent}, {name} has {_calc(rate * hours, '-', spent)} dollars left."],
            rate * hours - spent)


def _share(rng: random.Random, name: str, item: str) -> tuple[dict, list[str], int]:
    friends, each = rng.randint(2, 12), rng.randint(2, 60)
    return (dict(friends=friends, total=friends * each),
            [f"Each friend gets {_calc(friends * each, '/', friends)} {item}."], each)


# Each kind: (rng, name, item) -> (the numbers of a question, worked steps in GSM8K's style, answer).
ARITHMETIC_KINDS = {"add_sub": _add_sub, "multiply": _multiply, "wage": _wage, "share": _share}
# How each kind's question is worded: one template per problem, drawn from the wording's list.
# `generator`: one wording per kind; `varied`: that one and two more; `reworded`: other words
# again, kept out of both, to evaluate whether a model learned the arithmetic or the phrasing.
# For a given seed every wording asks the same questions (same numbers, steps and answers).
_GENERATOR_WORDING = {
    "add_sub": "{name} has {a} {item}. {name} gets {b} more and then gives away {c}. "
               "How many {item} does {name} have now?",
    "multiply": "A box holds {a} {item}. {name} fills {b} boxes. How many {item} is that?",
    "wage": "{name} earns ${rate} an hour and works {hours} hours. {name} then spends ${spent}. "
            "How many dollars does {name} have left?",
    "share": "{name} shares {total} {item} equally among {friends} friends. How many {item} does each friend get?",
}
ARITHMETIC_WORDINGS = {
    "generator": {kind: [template] for kind, template in _GENERATOR_WORDING.items()},
    "varied": {
        "add_sub": [_GENERATOR_WORDING["add_sub"],
                    "{name} starts the day with {a} {item}, is given {b} {item} at lunch and loses {c} on the way "
                    "home. How many {item} does {name} end the day with?",
                    "A jar holds {a} {item}. {name} puts in {b} more, then takes out {c}. How many {item} are in "
                    "the jar?"],
        "multiply": [_GENERATOR_WORDING["multiply"],
                     "{name} buys {b} packs of {item}. Each pack has {a} {item}. How many {item} does {name} buy?",
                     "There are {b} rows with {a} {item} in each row. How many {item} are there altogether?"],
        "wage": [_GENERATOR_WORDING["wage"],
                 "{name} works {hours} hours at ${rate} per hour, then pays ${spent} for lunch. How much money "
                 "does {name} keep?",
                 "A job pays ${rate} for every hour. {name} does it for {hours} hours and then spends ${spent}. "
                 "How many dollars remain?"],
        "share": [_GENERATOR_WORDING["share"],
                  "{total} {item} are put into {friends} equal piles by {name}. How many {item} are in each pile?",
                  "{name} has {total} {item} and gives the same number to each of {friends} friends, keeping none. "
                  "How many {item} does each friend receive?"],
    },
    "reworded": {
        "add_sub": ["There were {a} {item} in {name}'s collection. A neighbour added another {b}, and later "
                    "{c} were handed out. What number of {item} remain in the collection?"],
        "multiply": ["{name} packs {b} bags, putting {a} {item} in every bag. Find the total number of {item}."],
        "wage": ["For each hour of work, {name} is paid {rate} dollars. After working for {hours} hours, "
                 "{name} buys a gift costing {spent} dollars. What amount of money, in dollars, is left?"],
        "share": ["{total} {item} are split evenly between {friends} friends of {name}. What is each friend's share?"],
    },
}


# Numbers a problem's answer does not depend on the order of (3 boxes of 7 is 7 boxes of 3).
_COMMUTING = {"add_sub": ("a", "b"), "multiply": ("a", "b"), "wage": ("rate", "hours")}
ARITHMETIC_SPLITS = ("train", "test")
TEST_SHARE = 0.5  # of all possible problems of a kind; multiply and share have ~600 each (~300 test)


def problem_key(kind: str, numbers: dict) -> str:
    """What makes two problems the same problem: the kind and its numbers, commuting ones in either order."""
    commuting = _COMMUTING.get(kind, ())
    canonical = sorted(numbers[k] for k in commuting) + [numbers[k] for k in sorted(numbers) if k not in commuting]
    return f"{kind}:{','.join(map(str, canonical))}"


def problem_split(key: str) -> str:
    """`train` or `test` for a problem, fixed by a hash of its key: no seed of either split can ever
    produce a problem of the other, in any wording (the wording is not part of the key)."""
    return "test" if hashlib.sha256(key.encode()).digest()[0] < 256 * TEST_SHARE else "train"


def arithmetic_problems(n: int, seed: int = 0, kinds: list[str] | None = None, wording: str = "generator",
                        split: str = "train") -> Dataset:
    """`n` arithmetic word problems of `split` in GSM8K's schema (question, answer ending in `#### N`;
    plus `key`, see problem_key), drawn evenly from `kinds` (all of ARITHMETIC_KINDS by default),
    worded as in ARITHMETIC_WORDINGS[wording]."""
    unknown = sorted(set(kinds or []) - set(ARITHMETIC_KINDS))
    if unknown or kinds == []:
        raise ConfigError(f"arithmetic_kinds: unknown {unknown or kinds}; allowed: {sorted(ARITHMETIC_KINDS)}")
    if wording not in ARITHMETIC_WORDINGS:
        raise ConfigError(f"arithmetic_wording: unknown '{wording}'; allowed: {sorted(ARITHMETIC_WORDINGS)}")
    if split not in ARITHMETIC_SPLITS:
        raise ConfigError(f"split of `arithmetic` (dataset_train_split; --split in scripts/evaluate.py): unknown "
                          f"'{split}'; allowed: {list(ARITHMETIC_SPLITS)}")
    names = list(kinds or ARITHMETIC_KINDS)
    rng = random.Random(seed)
    wording_rng = random.Random(f"wording {seed}")  # a stream of its own: the wording never changes the numbers
    rows = []
    for _ in range(n):
        name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
        kind = rng.choice(names)
        while True:  # redraw the numbers until the problem belongs to the split (half the draws)
            numbers, steps, answer = ARITHMETIC_KINDS[kind](rng, name, item)
            key = problem_key(kind, numbers)
            if problem_split(key) == split:
                break
        template = wording_rng.choice(ARITHMETIC_WORDINGS[wording][kind])
        question = template.format(name=name, item=item, **numbers)
        rows.append({"question": question, "answer": "\n".join(steps) + f"\n#### {answer}", "key": key})
    return Dataset.from_list(rows)
