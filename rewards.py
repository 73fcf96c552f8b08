"""Rule-based rewards for R1-style GRPO, chosen and weighted by name from the config.

Every reward follows TRL's contract: `reward(completions, **kwargs) -> list[float | None]`,
one value per completion. Completions arrive as chat messages (`[{"role": "assistant",
"content": ...}]`) or plain strings; dataset columns (e.g. `solution`) arrive as keyword
arguments, and so do TRL's `prompts`, `completion_ids` and `log_metric`.

To add a reward: write a function below, decorate it with `@register("name")`, give its
tunable parameters keyword defaults (those defaults are the only place they are set), and
name it in the config's `reward_funcs`. Override its parameters from the config with
`reward_kwargs: {name: {param: value}}` (bound them with `@register(name, param=">= 1")`).
`get_reward_funcs` wraps each reward so that it never returns NaN/inf and a failure is
seen: an exception or a non-finite value scores 0.0 and is counted in the
`rewards/<name>/errors` metric, and a reward that raises on MAX_FAILED_BATCHES batches in
a row stops the run (RewardFailure) instead of letting it train on the other rewards.

Answer checking (`accuracy`, `cosine`) runs math-verify in killable worker processes
(`helpers/verify_pool.py`): it is known to hang and to exhaust memory on some inputs.
"""

import functools
import inspect
import json
import logging
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from helpers.config import ConfigError
from helpers.verify_pool import VerifyPool

logger = logging.getLogger(__name__)

REWARDS: dict[str, Callable] = {}

# Longer "final answers" are not answers; never hand them to the parser.
MAX_ANSWER_CHARS = 1000


# Allowed values of reward parameters, declared at registration: {reward: {parameter: "op bound"}}.
PARAMETER_RANGES: dict[str, dict[str, str]] = {}
_COMPARISONS = {">=": float.__ge__, ">": float.__gt__, "<=": float.__le__, "<": float.__lt__}


# What a reward measures, for the training-health monitor (helpers/health.py): `correctness` (is the
# answer right) or `format` (is it laid out as asked), with the reward's best value (its scale);
# rewards without a role are not read there.
REWARD_ROLES: dict[str, tuple[str, float]] = {}
ROLES = ("correctness", "format")


def register(name: str, role: str | None = None, best: float = 1.0, **ranges: str):
    """Add a reward under `name`, with its `role` (one of ROLES, or None) and `best`, the most it pays;
    `ranges` bound its numeric parameters, e.g. `max_len="> 0"`."""
    assert role in (None, *ROLES), role

    def add(func):
        REWARDS[name] = func
        PARAMETER_RANGES[name] = ranges
        if role is not None:
            REWARD_ROLES[name] = (role, best)
        return func

    return add


def check_parameter(key: str, value, default, bound: str | None) -> None:
    """The value must have its default's type (an int is fine for a float) and lie in `bound`."""
    expected = type(default)
    numeric = expected in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (numeric and (expected is float or isinstance(value, int))) and not (
            expected not in (int, float) and isinstance(value, expected)):
        raise ConfigError(f"{key}: {value!r} is not of type {expected.__name__}")
    if bound is not None:
        op, limit = bound.split()
        if not _COMPARISONS[op](float(value), float(limit)):
            raise ConfigError(f"{key}: {value!r} is out of range; allowed: {bound}")


# --------------------------------------------------------------------------- text helpers


def completion_text(completion) -> str:
    """The text of one completion: a chat message list (last message) or a string."""
    if isinstance(completion, list):
        completion = completion[-1].get("content") if completion and isinstance(completion[-1], dict) else ""
    if completion is None:
        return ""
    return completion if isinstance(completion, str) else str(completion)


class TagBlocks(NamedTuple):
    """The text around and inside `before <r> reasoning </r> between <a> answer </a> after`."""

    before: str
    reasoning: str
    between: str
    answer: str
    after: str


def tag_blocks(text: str, reasoning_tag: str, answer_tag: str) -> TagBlocks | None:
    """Split `before <r> reasoning </r> between <a> answer </a> after`, or None.

    None unless each of the four tags occurs exactly once and in that order, which is
    what rules out the double-block and repeated-closing-tag hacks.
    """
    tags = [f"<{reasoning_tag}>", f"</{reasoning_tag}>", f"<{answer_tag}>", f"</{answer_tag}>"]
    if any(text.count(tag) != 1 for tag in tags):
        return None
    starts = [text.index(tag) for tag in tags]
    if starts != sorted(starts):
        return None
    ends = [start + len(tag) for start, tag in zip(starts, tags)]
    return TagBlocks(text[: starts[0]], text[ends[0] : starts[1]], text[ends[1] : starts[2]],
                     text[ends[2] : starts[3]], text[ends[3] :])


def last_tag_content(text: str, tag: str | None) -> str | None:
    """Content of the last complete `<tag>...</tag>` block (None without a tag)."""
    if tag is None:
        return None
    close = text.rfind(f"</{tag}>")
    if close < 0:
        return None
    open_ = text.rfind(f"<{tag}>", 0, close)
    return None if open_ < 0 else text[open_ + len(tag) + 2 : close]


def boxed_groups(text: str) -> list[str]:
    """The contents of every complete `\\boxed{...}` (braces balanced), in order."""
    groups, start = [], text.find("\\boxed{")
    while start >= 0:
        depth, end = 0, None
        for i in range(start + len("\\boxed"), len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    end = i
                    break
        if end is None:  # unterminated: nothing after it can close either
            break
        groups.append(text[start + len("\\boxed{") : end])
        start = text.find("\\boxed{", end)
    return groups


def final_answer(text: str, answer_tag: str | None = "answer") -> str | None:
    """Only the final answer counts: the last answer block, else the last `\\boxed{}`.

    A box is unwrapped wherever it is, so `\\boxed{72 dollars}` is judged like `72 dollars`.
    An answer block that holds a box is graded by it: by its last box when the block is a
    long write-up (over MAX_ANSWER_CHARS), as written when it holds several different boxes
    (`\\boxed{71} or \\boxed{72}` is a hedge, and math-verify compares all of them).
    """
    block = last_tag_content(text, answer_tag)
    boxes = boxed_groups(text if block is None else block)
    if block is None:
        answer = boxes[-1] if boxes else None
    elif boxes and (len(set(boxes)) == 1 or len(block) > MAX_ANSWER_CHARS):
        answer = boxes[-1]
    else:
        answer = block
    if answer is None or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        return None
    return answer.strip()


def reasoning_text(text: str, reasoning_tag: str) -> str:
    """The reasoning block if there is one, else the whole completion."""
    block = last_tag_content(text, reasoning_tag)
    return text if block is None else block


# --------------------------------------------------------------------------- answer checking

@dataclass
class VerifyArguments:
    """The math-verify worker pool's settings: config keys of every command that checks answers."""

    verify_workers: int = field(default=4, metadata={"help": "math-verify worker processes (>= 1)."})
    verify_timeout_s: float = field(default=5.0, metadata={"help": "Hard wall-clock limit per answer check (> 0)."})
    verify_memory_mb: int = field(default=2048, metadata={"help": "Address-space cap per math-verify worker "
                                                                  "(>= 256; Python itself needs about 200)."})

    def __post_init__(self):
        for key, bound in [("verify_workers", ">= 1"), ("verify_timeout_s", "> 0"), ("verify_memory_mb", ">= 256")]:
            check_parameter(key, getattr(self, key), getattr(VerifyArguments, key), bound)


_pool: VerifyPool | None = None
_pool_settings = VerifyArguments()


def configure_verification(settings: VerifyArguments):
    """Settings for the math-verify worker pool (started on first use)."""
    global _pool, _pool_settings
    # Only the pool's own keys: a RewardArguments or EvalArguments carries these and more.
    settings = VerifyArguments(settings.verify_workers, settings.verify_timeout_s, settings.verify_memory_mb)
    if _pool is not None and settings != _pool_settings:
        _pool.close()
        _pool = None
    _pool_settings = settings


def verification_pool() -> VerifyPool:
    global _pool
    if _pool is None:
        _pool = VerifyPool(_pool_settings.verify_workers, _pool_settings.verify_timeout_s,
                           _pool_settings.verify_memory_mb)
    return _pool


_NUMBER_THEN_WORDS = re.compile(r"(-?[\d,]*\.?\d+)\s+[A-Za-z][A-Za-z .]*")


def as_verifiable(answer: str) -> str:
    """Make a model's final answer parseable the way a grader would read it.

    Read as LaTeX (inside `$...$`), never as loose text: as text, math-verify takes a number
    out of the middle (`6 - 5i` reads as 5, `71 or 72` as 72). Two exceptions: `\\$72` is
    currency, and a number followed by words (`72 dollars`) is that number.
    """
    answer = answer.replace("\\$", "").strip()
    number_with_unit = _NUMBER_THEN_WORDS.fullmatch(answer)
    if number_with_unit:
        return number_with_unit.group(1)
    has_delimiters = any(d in answer for d in ("\\boxed", "$", "\\(", "\\["))
    return answer if has_delimiters else f"${answer}$"


_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def gold_latex(gold: str) -> str:
    return f"$\\boxed{{{gold}}}$"


def usable_golds(golds) -> list[bool]:
    """Per gold: can math-verify grade answers against it? Plain numbers can; anything else must
    parse, verify against itself, and not read as words (the worker's `reads_as_words`: `forty two`
    would pay `two forty`). Labelled equations (`|AB|=1`) and lists in words (`19, 46, and 82`) are
    math: math-verify grades their last right-hand side and their members."""
    candidates = [g for g in dict.fromkeys(golds)
                  if isinstance(g, str) and g.strip() and not _PLAIN_NUMBER.fullmatch(g)]
    verdicts = verification_pool().judge([(gold_latex(g), as_verifiable(g)) for g in candidates]) if candidates else []
    parsed = {g: v is True for g, v in zip(candidates, verdicts)}
    return [isinstance(g, str) and bool(_PLAIN_NUMBER.fullmatch(g) or parsed.get(g)) for g in golds]


def check_answers(completions, solution, answer_tag: str, log_metric=None) -> list[bool | None]:
    """Per completion: is its final answer equal to the gold? None for every completion of a
    gold that does not read as math, with or without an answer, so that it never pays."""
    pool = verification_pool()
    timeouts_before, crashes_before = pool.stats.timeouts, pool.stats.crashes
    distinct = list(dict.fromkeys(solution))
    usable = {gold for gold, ok in zip(distinct, usable_golds(distinct)) if ok}
    answers = [final_answer(completion_text(c), answer_tag) for c in completions]
    todo = [i for i, a in enumerate(answers) if a is not None and solution[i] in usable]
    verdicts = pool.judge([(gold_latex(solution[i]), as_verifiable(answers[i])) for i in todo])
    correct: list[bool | None] = [False if gold in usable else None for gold in solution]
    for i, verdict in zip(todo, verdicts):
        correct[i] = bool(verdict)
    if log_metric is not None:
        log_metric("verify/timeouts", pool.stats.timeouts - timeouts_before)
        log_metric("verify/crashes", pool.stats.crashes - crashes_before)
    return correct


# --------------------------------------------------------------------------- the R1 rewards


@register("accuracy", role="correctness")
def accuracy(completions, solution, answer_tag: str = "answer", log_metric=None, **kwargs):
    """Pays 1.0 when the final answer (last answer block, else last `\\boxed{}`) equals the
    gold `solution` under math-verify, else 0.0. None for the whole group when the gold does
    not read as math (TRL then leaves those samples out of this reward). Range {0, 1}."""
    return [None if ok is None else float(ok) for ok in check_answers(completions, solution, answer_tag, log_metric)]


@register("format", role="format")
def format_(completions, reasoning_tag: str = "think", answer_tag: str = "answer", **kwargs):
    """Pays 1.0 for exactly one non-empty reasoning block followed by exactly one non-empty
    answer block, with only whitespace around and between them, else 0.0. Range {0, 1}."""
    rewards = []
    for c in completions:
        blocks = tag_blocks(completion_text(c), reasoning_tag, answer_tag)
        ok = (blocks is not None and not (blocks.before + blocks.between + blocks.after).strip()
              and bool(blocks.reasoning.strip()) and bool(blocks.answer.strip()))
        rewards.append(float(ok))
    return rewards


# A transition word marks a step only with its comma ("First, add"): "First step here" is a step's text.
_STEP_MARKER = r"(?:Step\s*\d+\s*[:.)]|\d+\s*[.)]|[-*\u2022]|(?:First|Second|Third|Next|Then|Finally),)"
_STEP_LINE = re.compile(rf"^[ \t]*{_STEP_MARKER}[ \t]*(.*)$", re.MULTILINE | re.IGNORECASE)
_LEADING_MARKERS = re.compile(rf"^(?:\s*{_STEP_MARKER})+\s*", re.IGNORECASE)


@register("reasoning_steps", target_steps=">= 1", min_words=">= 1")
def reasoning_steps(completions, reasoning_tag: str = "think", target_steps: int = 3, min_words: int = 3, **kwargs):
    """Pays for step-by-step reasoning: distinct lines of the reasoning block that start with a
    step marker ("Step 2:", "2.", "-", "First,", "Finally,") and carry at least `min_words`
    words after its markers ("Step 1: First, add 3 and 4." counts), as min(1, steps / target_steps).
    Bare markers ("Step 1: Step 2:") and repeated steps ("1. First, add" / "2. Then, add") earn
    nothing. Range [0, 1]."""
    rewards = []
    for c in completions:
        # A step is the text after all of its line's markers: distinct, and words counted, on that.
        steps = {_LEADING_MARKERS.sub("", m.group(1)).strip()
                 for m in _STEP_LINE.finditer(reasoning_text(completion_text(c), reasoning_tag))}
        steps = sum(1 for step in steps if len(step.split()) >= min_words)
        rewards.append(min(1.0, steps / target_steps))
    return rewards


@register("cosine", max_len="> 0", exceed_length_penalty="<= 0")
def cosine(completions, solution, answer_tag: str = "answer", completion_ids=None, eos_token_ids=(),
           max_len: int = 1000, min_value_correct: float = 0.5, max_value_correct: float = 1.0,
           min_value_wrong: float = -1.0, max_value_wrong: float = -0.5, exceed_length_penalty: float = -1.0, **kwargs):
    """Length-scaled correctness ("Demystifying Long CoT", Yeo et al. 2025): correct answers earn
    max_value_correct when short, falling along a cosine to min_value_correct at `max_len`
    tokens; wrong answers earn min_value_wrong when short, rising to max_value_wrong at
    `max_len` (a short wrong answer is the worst: think more when unsure). At or past `max_len`
    (truncated) the reward is `exceed_length_penalty`. Correctness is checked here with the same
    math-verify as `accuracy`. Length is in tokens (TRL's `completion_ids`, which end with the
    EOS token when the model stopped; that token is not counted, so only a completion cut off at
    `max_len` is penalised); called without them it estimates tokens as characters / 4. A gold
    that does not read as math gives None.
    Range [min(min_value_wrong, exceed_length_penalty), max_value_correct]."""
    rewards = []
    for i, ok in enumerate(check_answers(completions, solution, answer_tag)):
        if completion_ids is not None:
            ids = completion_ids[i]
            length = len(ids) - bool(len(ids) and ids[-1] in eos_token_ids)
        else:
            length = len(completion_text(completions[i])) / 4
        if ok is None:
            rewards.append(None)
            continue
        if length >= max_len:
            rewards.append(exceed_length_penalty)
            continue
        short, long = (max_value_correct, min_value_correct) if ok else (min_value_wrong, max_value_wrong)
        rewards.append(long + 0.5 * (short - long) * (1.0 + math.cos(math.pi * length / max_len)))
    return rewards


# Scripts written without spaces between words: each character counts as a word.
_UNSPACED_CHAR = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
                  "\uac00-\ud7af\uf900-\ufaff")
_WORD = re.compile(rf"[{_UNSPACED_CHAR}]|[^\s{_UNSPACED_CHAR}]+")


@register("repetition", ngram_size=">= 1", max_penalty="<= 0")
def repetition(completions, ngram_size: int = 3, max_penalty: float = -1.0, **kwargs):
    """Penalises repeated word n-grams ("Demystifying Long CoT", appendix C.2): the share of
    n-grams that are repeats, times `max_penalty` (<= 0). In scripts without spaces between
    words (Chinese, Japanese, Korean, Thai, ...) each character is a word. Completions shorter
    than one n-gram score 0. Range [max_penalty, 0]."""
    rewards = []
    for c in completions:
        words = _WORD.findall(completion_text(c).lower())
        ngrams = list(zip(*(words[k:] for k in range(ngram_size))))
        rewards.append((1 - len(set(ngrams)) / len(ngrams)) * max_penalty if ngrams else 0.0)
    return rewards


def _tag_layout_score(text: str, reasoning_tag: str, answer_tag: str, per_tag: float, trailing_cost: float):
    """`per_tag` for each of the four newline-delimited tags seen exactly once, minus
    `trailing_cost` per character after the closing answer tag."""
    score = 0.0
    for piece in (f"<{reasoning_tag}>\n", f"\n</{reasoning_tag}>\n", f"\n<{answer_tag}>\n", f"\n</{answer_tag}>"):
        if text.count(piece) == 1:
            score += per_tag
    close = f"\n</{answer_tag}>"
    if trailing_cost and text.count(close) == 1:
        score -= trailing_cost * len(text.split(close)[-1].strip())
    return max(score, -4 * per_tag)


@register("tag_count", role="format")
def tag_count(completions, reasoning_tag: str = "think", answer_tag: str = "answer", **kwargs):
    """Pays 0.25 for each of `<think>\\n`, `\\n</think>\\n`, `\\n<answer>\\n`, `\\n</answer>` that
    occurs exactly once (open-r1's guard against repeated tags). Range [0, 1]."""
    return [_tag_layout_score(completion_text(c), reasoning_tag, answer_tag, 0.25, 0.0) for c in completions]


_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK"}


@functools.lru_cache(maxsize=65536)
def _script(char: str) -> str:
    if char < "\x80":
        return "LATIN"
    first_word = unicodedata.name(char, "UNKNOWN").split(" ")[0]
    return _SCRIPT_GROUPS.get(first_word, first_word)


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        if char.isalpha():
            script = _script(char)
            counts[script] = counts.get(script, 0) + 1
    return counts


@register("language_consistency")
def language_consistency(completions, prompts=None, **kwargs):
    """R1's language-consistency reward: the fraction of the completion's letters written in
    the dominant script of the prompt's last user message (Latin, CJK, Cyrillic, Arabic, ...).
    A completion with no letters, or a prompt with none, scores 1.0. Range [0, 1]."""
    rewards = []
    for i, c in enumerate(completions):
        prompt_counts = _script_counts(_last_user_text(prompts[i] if prompts is not None else ""))
        counts = _script_counts(completion_text(c))
        total = sum(counts.values())
        if not prompt_counts or not total:
            rewards.append(1.0)
            continue
        target = max(prompt_counts, key=prompt_counts.get)
        rewards.append(counts.get(target, 0) / total)
    return rewards


def _last_user_text(prompt) -> str:
    if isinstance(prompt, list):
        return completion_text([m for m in prompt if isinstance(m, dict) and m.get("role") == "user"][-1:])
    return completion_text(prompt)


# ----------------------------------------------------- the popular GSM8K recipe's rewards
# (willccbb's GRPO demo: <reasoning>/<answer> format, exact-match correctness)


@register("xml_correctness", role="correctness", best=2.0)
def xml_correctness(completions, solution, answer_tag: str = "answer", **kwargs):
    """Pays 2.0 when the last answer block's text equals the gold exactly (after stripping
    whitespace), else 0.0. No math equivalence: "72.0" is wrong for 72. Range {0, 2}."""
    answers = [last_tag_content(completion_text(c), answer_tag) for c in completions]
    return [2.0 if a is not None and a.strip() == str(gold).strip() else 0.0 for a, gold in zip(answers, solution)]


@register("xml_int", role="format", best=0.5)
def xml_int(completions, answer_tag: str = "answer", **kwargs):
    """Pays 0.5 when the last answer block holds a bare non-negative integer. Range {0, 0.5}."""
    answers = [last_tag_content(completion_text(c), answer_tag) for c in completions]
    return [0.5 if a is not None and a.strip().isdecimal() and a.strip().isascii() else 0.0 for a in answers]


@register("xml_strict_format", role="format", best=0.5)
def xml_strict_format(completions, reasoning_tag: str = "reasoning", answer_tag: str = "answer", **kwargs):
    """Pays 0.5 for exactly `<reasoning>\\n...\\n</reasoning>\\n<answer>\\n...\\n</answer>` with an
    optional final newline and nothing else. Range {0, 0.5}."""
    rewards = []
    for c in completions:
        blocks = tag_blocks(completion_text(c), reasoning_tag, answer_tag)
        ok = (blocks is not None and blocks.before == "" and blocks.between == "\n" and blocks.after in ("", "\n")
              and all(len(b) > 2 and b[0] == b[-1] == "\n" for b in (blocks.reasoning, blocks.answer)))
        rewards.append(0.5 if ok else 0.0)
    return rewards


@register("xml_soft_format", role="format", best=0.5)
def xml_soft_format(completions, reasoning_tag: str = "reasoning", answer_tag: str = "answer", **kwargs):
    """Pays 0.5 when the completion starts with one reasoning block followed (whitespace
    allowed) by one answer block; text after the answer is tolerated. Range {0, 0.5}."""
    rewards = []
    for c in completions:
        blocks = tag_blocks(completion_text(c), reasoning_tag, answer_tag)
        rewards.append(0.5 if blocks is not None and not (blocks.before + blocks.between).strip() else 0.0)
    return rewards


@register("xml_count", role="format", best=0.5)
def xml_count(completions, reasoning_tag: str = "reasoning", answer_tag: str = "answer", **kwargs):
    """Pays 0.125 for each newline-delimited tag seen exactly once, minus 0.001 per character
    after the closing answer tag (floored). Range [-0.5, 0.5]."""
    return [_tag_layout_score(completion_text(c), reasoning_tag, answer_tag, 0.125, 0.001) for c in completions]


# --------------------------------------------------------------------------- registry


@dataclass
class RewardArguments(VerifyArguments):
    """Which rewards to train on and how they are set up (weights: GRPOConfig.reward_weights),
    checked when built: an unknown reward, parameter or out-of-range value is a ConfigError."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format"],
        metadata={"help": f"Rewards by name, from: {', '.join(REWARDS)}."},
    )
    reward_kwargs: dict | str | None = field(
        default=None,
        metadata={"help": 'Per-reward parameter overrides, e.g. {"cosine": {"max_len": 512}} (JSON on the '
                          "command line)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.reward_kwargs, str):  # from the command line
            try:
                self.reward_kwargs = json.loads(self.reward_kwargs)
            except json.JSONDecodeError as error:
                raise ConfigError(f"reward_kwargs: not valid JSON ({error}); e.g. --reward_kwargs "
                                  f"'{{\"cosine\": {{\"max_len\": 512}}}}'") from error
        self.reward_kwargs = {} if self.reward_kwargs is None else self.reward_kwargs
        if not isinstance(self.reward_kwargs, dict):
            raise ConfigError(f"reward_kwargs: expected a mapping, got {self.reward_kwargs!r}")
        check_reward_config(self.reward_funcs, self.reward_kwargs)


def reward_parameters(func: Callable) -> dict[str, object]:
    """The tunable parameters of a reward: its keyword arguments that have defaults."""
    return {name: p.default for name, p in inspect.signature(func).parameters.items()
            if p.default is not inspect.Parameter.empty
            and name not in ("log_metric", "completion_ids", "prompts", "eos_token_ids")}


def check_reward_config(names: list[str], reward_kwargs: dict, key: str = "reward_funcs") -> None:
    """Raise ConfigError naming the bad key (`key`: the one that lists the names) and the allowed values."""
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ConfigError(f"{key}: unknown reward(s) {unknown}; allowed: {sorted(REWARDS)}")
    for name, params in reward_kwargs.items():
        if name not in names:
            raise ConfigError(f"reward_kwargs: '{name}' is not in reward_funcs {names}")
        if not isinstance(params, dict):
            raise ConfigError(f"reward_kwargs.{name} must be a mapping of parameter: value, got {params!r}")
        allowed = reward_parameters(REWARDS[name])
        for param, value in params.items():
            if param not in allowed:
                raise ConfigError(f"reward_kwargs.{name}: unknown parameter '{param}'; allowed: {sorted(allowed)}")
            check_parameter(f"reward_kwargs.{name}.{param}", value, allowed[param], PARAMETER_RANGES[name].get(param))


def get_reward_funcs(names: list[str], reward_kwargs: dict | None = None, **shared) -> list[Callable]:
    """Build the reward list for GRPOTrainer.

    `shared` (e.g. the prompt template's `reasoning_tag` and `answer_tag`) goes to every
    reward that takes it; `reward_kwargs[name]` then overrides parameters per reward.
    """
    reward_kwargs = reward_kwargs or {}
    check_reward_config(names, reward_kwargs)
    funcs = []
    for name in names:
        func = REWARDS[name]
        accepted = inspect.signature(func).parameters
        bound = {k: v for k, v in shared.items() if k in accepted} | reward_kwargs.get(name, {})
        funcs.append(_guarded(name, func, bound))
    return funcs


class RewardFailure(RuntimeError):
    """A reward kept raising: training on the other rewards alone would be silently wrong."""


# A reward that raises on this many batches in a row stops the run (one bad batch scores 0.0).
MAX_FAILED_BATCHES = 3


def _guarded(name: str, func: Callable, bound: dict) -> Callable:
    failed_batches = 0

    def reward(completions, **kwargs):
        nonlocal failed_batches
        try:
            raw = list(func(completions, **(kwargs | bound)))
            if len(raw) != len(completions):
                raise ValueError(f"returned {len(raw)} values for {len(completions)} completions")
        except Exception as error:
            failed_batches += 1
            if failed_batches >= MAX_FAILED_BATCHES:
                raise RewardFailure(f"reward '{name}' raised on {failed_batches} batches in a row, last: "
                                    f"{type(error).__name__}: {error}") from error
            logger.exception("reward '%s' raised; scoring this batch 0.0", name)
            raw = [0.0] * len(completions)
            errors = len(completions)
        else:
            failed_batches = 0
            errors = 0
        values = []
        for value in raw:
            if value is None:
                values.append(None)
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                errors += 1
                value = 0.0
            values.append(value)
        if kwargs.get("log_metric") is not None:
            kwargs["log_metric"](f"rewards/{name}/errors", errors)
        return values

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = func.__doc__
    return reward
