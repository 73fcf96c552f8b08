"""scripts/evaluate.py: majority votes by math equivalence, metrics on hand-checked cases, both benchmarks."""

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, SHARED_DATA, SMALL_VERIFY_POOL, answer

from data import DataArguments, arithmetic_problems, load_prompt_template
from helpers.generation import Sample
from scripts import evaluate
from scripts.evaluate import EvalArguments, equivalences, majority_index, score

TEMPLATE = load_prompt_template("r1_zero", DataArguments().prompt_templates_file)



def test_majority_vote_ties_go_to_the_answer_seen_first():
    assert majority_index(["3", "4", "4", "3"]) == 0
    assert majority_index(["4", "3", "3", "4"]) == 0
    assert majority_index(["5", "3", "4", "4"]) == 2
    assert majority_index([None, None, "7"]) == 2  # unparseable samples do not vote
    assert majority_index([None, None]) is None


def test_majority_votes_group_answers_by_math_equivalence():
    answers = ["18", "18.00", "\\boxed{18}", "18 dollars", "17", "17"]
    assert majority_index(answers, equivalences([answers])) == 0  # four votes for 18, two for 17
    assert majority_index(answers) == 4  # by text alone 17 would win
    assert majority_index(["\\frac{1}{2}", "3", "0.5", "3"], equivalences([["\\frac{1}{2}", "3", "0.5", "3"]])) == 0


def test_metrics_on_hand_checked_cases():
    solutions = ["4", "10", "7"]
    greedy = [answer("4", 10), Sample("no tags, no answer", 30), answer("8", 20)]
    sampled = [
        [answer("4"), answer("5"), answer("5"), answer("4")],  # tie 4/5 -> 4 (first): maj right, pass right
        [answer("10"), answer("11"), answer("11"), Sample("garbage", 5)],  # 11 wins: maj wrong, pass right
        [Sample("x", 1), Sample("y", 1), answer("8"), answer("9")],  # tie 8/9 -> 8, none right
    ]
    result, examples = score(greedy, sampled, solutions, TEMPLATE)
    assert [e["correct"] for e in examples] == [True, False, False]
    assert examples[1]["completion"] == "no tags, no answer"
    assert result == {"n": 3, "pass@1": pytest.approx(1 / 3), "format_rate": pytest.approx(2 / 3),
                      "mean_length": pytest.approx(20.0), "maj@4": pytest.approx(1 / 3), "pass@4": pytest.approx(2 / 3)}
    assert "maj@4" not in score(greedy, None, solutions, TEMPLATE)[0]


class ScriptedGenerator:
    """Answers every problem with its gold answer (greedy) or a fixed wrong/right mix (sampled); under
    Qwen's lenient prompt it writes a boxed answer with no tags, right on the first problems only."""

    def __init__(self, golds, lenient_right=2):
        self.golds, self.lenient_right = golds, lenient_right

    def generate(self, prompts, n, max_new_tokens, temperature, seed):
        out = []
        for i, prompt in enumerate(prompts):
            gold = self.golds[prompt[-1]["content"]]
            if "\\boxed{}" in prompt[0]["content"]:  # the lenient template's system prompt
                out.append([Sample(f"Step by step... so \\boxed{{{gold if i < self.lenient_right else -1}}}.", 9)])
            else:
                out.append([answer(gold)] if n == 1 else [answer(gold), answer("-1"), answer("-1")][:n])
        return out


def test_evaluate_runs_both_benchmarks_from_local_files():
    golds = {}
    for name in ("gsm8k", "math500"):
        path = SHARED_DATA / name / "test.jsonl"
        for line in path.read_text().splitlines()[:5]:
            row = json.loads(line)
            golds[row.get("question") or row["problem"]] = row["answer"].split("####")[-1].strip() \
                if name == "gsm8k" else row["answer"]
    args = EvalArguments(model="scripted", gsm8k_source=str(SHARED_DATA / "gsm8k"),
                         math500_source=str(SHARED_DATA / "math500"), limit=5, k=3, **SMALL_VERIFY_POOL)
    result = evaluate.evaluate(args, generator=ScriptedGenerator(golds))
    for name in ("gsm8k", "math500"):
        metrics = result["benchmarks"][name]
        assert metrics["n"] == 5 and metrics["pass@1"] == 1.0 and metrics["format_rate"] == 1.0
        assert metrics["pass@3"] == 1.0 and metrics["maj@3"] == 0.0  # two wrong votes outvote one right
        assert metrics["lenient_pass@1"] == pytest.approx(2 / 5)  # Qwen's prompt, last \\boxed{} graded
    assert "| gsm8k | 5 | 1.000 |" in evaluate.table(result)


def test_the_reworded_benchmark_asks_the_same_problems_in_other_words():
    """A model that only knows the generator's wording scores 1.0 on `arithmetic`, 0.0 on `arithmetic_reworded`."""
    problems = arithmetic_problems(6, seed=1000, split="test")
    golds = {row["question"]: row["answer"].rsplit("#### ", 1)[1] for row in problems}

    class KnowsOneWording:
        def generate(self, prompts, n, max_new_tokens, temperature, seed):
            return [[answer(golds.get(p[-1]["content"], "-1"))] * n for p in prompts]

    args = EvalArguments(model="scripted", benchmarks=["arithmetic", "arithmetic_reworded"], limit=6, k=1,
                         lenient=False, **SMALL_VERIFY_POOL)
    result = evaluate.evaluate(args, generator=KnowsOneWording())
    same, other = result["benchmarks"]["arithmetic"], result["benchmarks"]["arithmetic_reworded"]
    assert same["n"] == other["n"] == 6 and same["pass@1"] == 1.0 and other["pass@1"] == 0.0
    assert [e["gold"] for e in result["greedy_completions"]["arithmetic_reworded"]] == list(golds.values())


@pytest.mark.parametrize("args,message", [
    (["--prompt_template", "nope"], "config error: prompt_template: 'nope' unknown; allowed"),
    (["--verify_workers", "0"], "config error: verify_workers: 0 is out of range; allowed: >= 1"),
    (["--benchmarks", "gsm9k"], "config error: benchmarks: unknown ['gsm9k']; allowed: ['arithmetic', "
                                "'arithmetic_reworded', 'gsm8k', 'math500']"),
])
def test_the_command_line_reports_a_config_error_without_a_traceback(args, message):
    result = subprocess.run([sys.executable, "scripts/evaluate.py", "--model", "unused", *args], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(message)
