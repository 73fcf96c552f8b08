"""Evaluate a checkpoint on GSM8K test and MATH-500 with the training rewards' answer checking.

    python scripts/evaluate.py --model outputs/demo --limit 20 --k 4 --output eval.json \\
        --gsm8k_source ../shared/data/gsm8k --math500_source ../shared/data/math500

Per benchmark (GSM8K, MATH-500, or `arithmetic`: generated problems of the test split, which no
training seed can produce (data.problem_split), and
`arithmetic_reworded`: the same problems worded differently from the training data):
the strict score in the training format (prompt_template): pass@1 (greedy), maj@k and pass@k
over k samples (answers equal under math-verify vote together), format-compliance rate and mean
completion length (tokens) of the greedy answers; and the lenient score `lenient_pass@1`:
greedy under Qwen's own CoT prompt, the last \\boxed{} graded, comparable with published numbers.
The JSON also keeps every greedy completion. vLLM when installed with a GPU,
transformers otherwise; deterministic for a given seed. Writes JSON and prints a table.
"""

import itertools
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from data import ARITHMETIC, REWORDED, TemplateArguments, load_prompt_template, load_raw, to_rl_dataset
from helpers.config import ConfigError, parse_config, setup_logging
from helpers.generation import make_generator
from rewards import (
    VerifyArguments,
    as_verifiable,
    check_answers,
    configure_verification,
    final_answer,
    get_reward_funcs,
    gold_latex,
    verification_pool,
)

BENCHMARKS = {"gsm8k": "gsm8k", "math500": "math500", ARITHMETIC: "gsm8k", REWORDED: "gsm8k"}  # -> dataset_format
WORDINGS = {ARITHMETIC: "generator", REWORDED: "reworded"}


@dataclass(kw_only=True)
class EvalArguments(TemplateArguments, VerifyArguments):
    """What to evaluate and how; `prompt_template` (the strict score's format, the training one) and
    the `verify_*` keys mean what they mean in the training configs."""

    model: str = field(metadata={"help": "A checkpoint folder or Hub id."})
    benchmarks: list[str] = field(default_factory=lambda: ["gsm8k", "math500"])
    gsm8k_source: str = field(default="openai/gsm8k", metadata={"help": "Hub id, or a local folder/file."})
    math500_source: str = field(default="HuggingFaceH4/MATH-500", metadata={"help": "Hub id, or a local folder/file."})
    arithmetic_size: int = field(default=200, metadata={"help": "Generated problems for the `arithmetic` benchmark."})
    arithmetic_seed: int = field(default=1000, metadata={"help": "Its seed (any seed: held-out problems come "
                                                                 "from the `test` split, never from training's)."})
    split: str = field(default="test", metadata={"help": "The split evaluated (GSM8K, MATH-500, arithmetic)."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate the first N problems only."})
    k: int = field(default=4, metadata={"help": "Samples per problem for maj@k and pass@k (1 = greedy only)."})
    temperature: float = 0.6
    max_new_tokens: int = 512
    seed: int = 0
    lenient: bool = field(default=True, metadata={"help": "Also score greedy answers under lenient_template."})
    lenient_template: str = field(default="qwen_boxed", metadata={"help": "The lenient score's prompt: Qwen's own "
                                                                          "CoT prompt, the last \\boxed{} graded."})
    backend: str = field(default="auto", metadata={"help": "auto, vllm or hf."})
    output: str = "eval_results.json"


def equivalences(groups: list[list[str | None]]) -> set[tuple[str, str]]:
    """The pairs of different answer texts, within one group, that math-verify judges equal."""
    pairs = list({pair for answers in groups
                  for pair in itertools.combinations(dict.fromkeys(a for a in answers if a is not None), 2)})
    verdicts = verification_pool().judge([(gold_latex(a), as_verifiable(b)) for a, b in pairs])
    return {pair for pair, same in zip(pairs, verdicts) if same}


def majority_index(answers: list[str | None], equal: set[tuple[str, str]] = frozenset()) -> int | None:
    """Index of a sample holding the most common answer, answers that are the same text or in
    `equal` voting together (`18`, `18.00` and `18 dollars` are one answer); ties go to the
    answer seen first. Samples without an answer do not vote; None when nobody voted."""
    representatives, votes = [], Counter()
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        rep = next((r for r in representatives if answers[r] == answer or (answers[r], answer) in equal
                    or (answer, answers[r]) in equal), None)
        if rep is None:
            representatives.append(rep := i)
        votes[rep] += 1
    if not votes:
        return None
    top = max(votes.values())
    return next(r for r in representatives if votes[r] == top)


def score(greedy, sampled, solutions, template) -> tuple[dict, list[dict]]:
    """Metrics for one benchmark from the greedy and the k samples per problem, and the greedy completions."""
    completions = [s.text for s in greedy]
    correct = check_answers(completions, solutions, template.answer_tag)
    (format_reward,) = get_reward_funcs(["format"], reasoning_tag=template.reasoning_tag,
                                        answer_tag=template.answer_tag)
    result = {
        "n": len(solutions),
        "pass@1": sum(bool(c) for c in correct) / len(solutions),
        "format_rate": sum(format_reward(completions)) / len(solutions),
        "mean_length": sum(s.num_tokens for s in greedy) / len(solutions),
    }
    examples = [{"gold": gold, "completion": text, "correct": bool(ok)}
                for gold, text, ok in zip(solutions, completions, correct)]
    if sampled is not None:
        k = len(sampled[0])
        flat = [s.text for samples in sampled for s in samples]
        verdicts = check_answers(flat, [g for g in solutions for _ in range(k)], template.answer_tag)
        answers = [[final_answer(t, template.answer_tag) for t in flat[i * k : (i + 1) * k]]
                   for i in range(len(solutions))]
        equal = equivalences(answers)
        majority_correct = pass_k = 0
        for i in range(len(solutions)):
            group = verdicts[i * k : (i + 1) * k]
            winner = majority_index(answers[i], equal)
            majority_correct += winner is not None and bool(group[winner])
            pass_k += any(group)
        result |= {f"maj@{k}": majority_correct / len(solutions), f"pass@{k}": pass_k / len(solutions)}
    return result, examples


def benchmark_rows(args: EvalArguments, name: str):
    """The problems of one benchmark, in their source's schema (the first `limit` of them)."""
    source = ARITHMETIC if name in WORDINGS else getattr(args, f"{name}_source")
    raw = load_raw(source, split=args.split, arithmetic_size=args.arithmetic_size,
                   arithmetic_seed=args.arithmetic_seed, arithmetic_wording=WORDINGS.get(name, "generator"))
    return raw.select(range(min(args.limit, len(raw)))) if args.limit is not None else raw


def evaluate(args: EvalArguments, generator=None) -> dict:
    unknown = [b for b in args.benchmarks if b not in BENCHMARKS]
    if unknown:
        raise ConfigError(f"benchmarks: unknown {unknown}; allowed: {sorted(BENCHMARKS)}")
    configure_verification(args)
    template = load_prompt_template(args.prompt_template, args.prompt_templates_file)
    lenient = load_prompt_template(args.lenient_template, args.prompt_templates_file) if args.lenient else None
    datasets = {name: to_rl_dataset(benchmark_rows(args, name), BENCHMARKS[name], template, source=name)
                for name in args.benchmarks}
    prompt_sets = [d["prompt"] for d in datasets.values()]
    if lenient:
        prompt_sets += [[lenient.messages(p[-1]["content"]) for p in prompts] for prompts in prompt_sets]
    generator = generator or make_generator(args.model, args.backend, prompt_sets, args.max_new_tokens)
    results, examples = {}, {}
    for name, dataset in datasets.items():
        prompts, solutions = dataset["prompt"], dataset["solution"]
        greedy = [s[0] for s in generator.generate(prompts, 1, args.max_new_tokens, 0.0, args.seed)]
        sampled = generator.generate(prompts, args.k, args.max_new_tokens, args.temperature, args.seed) \
            if args.k > 1 else None
        results[name], examples[name] = score(greedy, sampled, solutions, template)
        if args.lenient:
            lenient_prompts = [lenient.messages(p[-1]["content"]) for p in prompts]
            texts = [s[0].text for s in generator.generate(lenient_prompts, 1, args.max_new_tokens, 0.0, args.seed)]
            results[name]["lenient_pass@1"] = sum(bool(c) for c in check_answers(texts, solutions, None)) / len(texts)
        for example, prompt in zip(examples[name], prompts):
            example["problem"] = prompt[-1]["content"]
    return {"model": args.model, "settings": asdict(args), "benchmarks": results, "greedy_completions": examples}


def table(results: dict) -> str:
    rows = ["| benchmark | " + " | ".join(next(iter(results["benchmarks"].values()))) + " |"]
    rows.append("|" + " --- |" * (len(rows[0].split("|")) - 2))
    for name, metrics in results["benchmarks"].items():
        rows.append(f"| {name} | " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                              for v in metrics.values()) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    setup_logging(logging.WARNING)
    try:
        args = parse_config((EvalArguments,))
        results = evaluate(args)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}") from None
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2))
    print(f"{args.model}\n{table(results)}")
