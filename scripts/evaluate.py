"""Evaluate a checkpoint on GSM8K test and MATH-500 with the training rewards' answer checking.

    python scripts/evaluate.py --model outputs/demo --limit 20 --k 4 --output eval.json \\
        --gsm8k_source ../shared/data/gsm8k --math500_source ../shared/data/math500

Per benchmark: pass@1 (greedy), maj@k and pass@k over k samples, format-compliance rate and
mean completion length (tokens) of the greedy answers. vLLM when installed with a GPU,
transformers otherwise; deterministic for a given seed. Writes JSON and prints a table.
"""

import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data import REPO_ROOT, load_prompt_template, load_raw, to_rl_dataset  # noqa: E402
from rewards import check_answers, final_answer, get_reward_funcs  # noqa: E402
from scripts.generation import make_generator  # noqa: E402
from scripts.run_setup import ConfigError, parse_config  # noqa: E402

BENCHMARKS = {"gsm8k": "gsm8k", "math500": "math500"}  # name -> dataset_format


@dataclass
class EvalArguments:
    model: str = field(metadata={"help": "A checkpoint folder or Hub id."})
    benchmarks: list[str] = field(default_factory=lambda: ["gsm8k", "math500"])
    gsm8k_source: str = field(default="openai/gsm8k", metadata={"help": "Hub id, or a local folder/file."})
    math500_source: str = field(default="HuggingFaceH4/MATH-500", metadata={"help": "Hub id, or a local folder/file."})
    split: str = "test"
    limit: int | None = field(default=None, metadata={"help": "Evaluate the first N problems only."})
    k: int = field(default=4, metadata={"help": "Samples per problem for maj@k and pass@k (1 = greedy only)."})
    temperature: float = 0.6
    max_new_tokens: int = 512
    seed: int = 0
    prompt_template: str = "r1_zero"
    prompt_templates_file: str = str(REPO_ROOT / "configs" / "prompts.yaml")
    backend: str = field(default="auto", metadata={"help": "auto, vllm or hf."})
    output: str = "eval_results.json"


def vote_key(answer: str | None) -> str | None:
    """Answers that are the same text up to spacing, `$` and a final period vote together."""
    if answer is None:
        return None
    return "".join(answer.replace("$", "").split()).rstrip(".") or None


def majority_index(answers: list[str | None]) -> int | None:
    """Index of a sample holding the most common answer; ties go to the answer seen first.
    Samples without an answer do not vote; None when nobody voted."""
    keys = [vote_key(a) for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(i for i, k in enumerate(keys) if k is not None and counts[k] == top)


def score(greedy, sampled, solutions, template) -> dict:
    """Metrics for one benchmark from the greedy samples and the k samples per problem."""
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
    if sampled is not None:
        k = len(sampled[0])
        flat = [s.text for samples in sampled for s in samples]
        verdicts = check_answers(flat, [g for g in solutions for _ in range(k)], template.answer_tag)
        majority_correct = pass_k = 0
        for i in range(len(solutions)):
            group = verdicts[i * k : (i + 1) * k]
            winner = majority_index([final_answer(t, template.answer_tag) for t in flat[i * k : (i + 1) * k]])
            majority_correct += winner is not None and bool(group[winner])
            pass_k += any(group)
        result |= {f"maj@{k}": majority_correct / len(solutions), f"pass@{k}": pass_k / len(solutions)}
    return result


def evaluate(args: EvalArguments, generator=None) -> dict:
    unknown = [b for b in args.benchmarks if b not in BENCHMARKS]
    if unknown:
        raise ConfigError(f"benchmarks: unknown {unknown}; allowed: {sorted(BENCHMARKS)}")
    template = load_prompt_template(args.prompt_template, args.prompt_templates_file)
    generator = generator or make_generator(args.model, args.backend)
    results = {}
    for name in args.benchmarks:
        source = getattr(args, f"{name}_source")
        raw = load_raw(source, split=args.split)
        if args.limit is not None:
            raw = raw.select(range(min(args.limit, len(raw))))
        dataset = to_rl_dataset(raw, BENCHMARKS[name], template, source=source)
        prompts, solutions = dataset["prompt"], dataset["solution"]
        greedy = [s[0] for s in generator.generate(prompts, 1, args.max_new_tokens, 0.0, args.seed)]
        sampled = generator.generate(prompts, args.k, args.max_new_tokens, args.temperature, args.seed) \
            if args.k > 1 else None
        results[name] = score(greedy, sampled, solutions, template)
    return {"model": args.model, "settings": asdict(args), "benchmarks": results}


def table(results: dict) -> str:
    rows = ["| benchmark | " + " | ".join(next(iter(results["benchmarks"].values()))) + " |"]
    rows.append("|" + " --- |" * (len(rows[0].split("|")) - 2))
    for name, metrics in results["benchmarks"].items():
        rows.append(f"| {name} | " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                              for v in metrics.values()) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    try:
        args = parse_config((EvalArguments,))
        results = evaluate(args)
    except ConfigError as error:
        raise SystemExit(f"config error: {error}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2))
    print(f"{args.model}\n{table(results)}")
