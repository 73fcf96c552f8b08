import json

import pytest
from conftest import SHARED_DATA

from data import DataArguments, load_prompt_template
from rewards import get_reward_funcs
from scripts import evaluate, rejection_sample
from scripts.evaluate import EvalArguments, equivalences, majority_index, score
from scripts.generation import HFGenerator, Sample
from scripts.pipeline_report import markdown_table
from scripts.plot_metrics import plot

TEMPLATE = load_prompt_template("r1_zero", DataArguments().prompt_templates_file)


def answer(a, tokens=10):
    return Sample(f"<think>\nwork\n</think>\n<answer>\n{a}\n</answer>", tokens)


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
    assert [e["correct"] for e in examples] == [True, False, False] and examples[1]["completion"] == "no tags, no answer"
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
    for name, path in [("gsm8k", SHARED_DATA / "gsm8k" / "test.jsonl"), ("math500", SHARED_DATA / "math500" / "test.jsonl")]:
        for line in path.read_text().splitlines()[:5]:
            row = json.loads(line)
            golds[row.get("question") or row["problem"]] = row["answer"].split("####")[-1].strip() \
                if name == "gsm8k" else row["answer"]
    args = EvalArguments(model="scripted", gsm8k_source=str(SHARED_DATA / "gsm8k"),
                         math500_source=str(SHARED_DATA / "math500"), limit=5, k=3)
    result = evaluate.evaluate(args, generator=ScriptedGenerator(golds))
    for name in ("gsm8k", "math500"):
        metrics = result["benchmarks"][name]
        assert metrics["n"] == 5 and metrics["pass@1"] == 1.0 and metrics["format_rate"] == 1.0
        assert metrics["pass@3"] == 1.0 and metrics["maj@3"] == 0.0  # two wrong votes outvote one right
        assert metrics["lenient_pass@1"] == pytest.approx(2 / 5)  # Qwen's prompt, last \\boxed{} graded
    assert "| gsm8k | 5 | 1.000 |" in evaluate.table(result)


def test_rejection_sampling_keeps_correct_well_formed_distinct_samples():
    prompts = [[{"role": "user", "content": "2+2?"}], [{"role": "user", "content": "3+3?"}]]
    samples = [
        [answer("4", 3), answer("4", 3), Sample("<answer>4</answer>", 1), answer("5"),
         Sample("<think>\nlong long\n</think>\n<answer>\n4\n</answer>", 9)],
        [answer("7"), Sample("6", 1)],
    ]
    funcs = get_reward_funcs(["accuracy", "format"])
    rows = rejection_sample.accepted_rows(prompts, ["4", "6"], samples, funcs, 1.0, "all")
    assert [r["completion"][0]["content"] for r in rows] == [samples[0][0].text, samples[0][4].text]
    assert all(r["prompt"] == prompts[0] for r in rows)
    shortest = rejection_sample.accepted_rows(prompts, ["4", "6"], samples, funcs, 1.0, "shortest")
    assert [r["completion"][0]["content"] for r in shortest] == [samples[0][0].text]


@pytest.mark.slow
def test_hf_generation_is_deterministic_for_a_seed(smollm2_checkpoint):
    generator = HFGenerator(str(smollm2_checkpoint))
    prompts = [TEMPLATE.messages("What is 2 + 3?"), TEMPLATE.messages("What is 7 * 6?")]
    first = generator.generate(prompts, 2, 12, 1.0, seed=3)
    again = generator.generate(prompts, 2, 12, 1.0, seed=3)
    other = generator.generate(prompts, 2, 12, 1.0, seed=4)
    assert [[s.text for s in g] for g in first] == [[s.text for s in g] for g in again]
    assert [[s.text for s in g] for g in first] != [[s.text for s in g] for g in other]
    assert all(0 < s.num_tokens <= 12 for g in first for s in g)
    greedy = generator.generate(prompts[:1], 1, 12, 0.0, seed=0)
    assert greedy[0][0].text == generator.generate(prompts[:1], 1, 12, 0.0, seed=9)[0][0].text


def test_a_checkpoints_generation_config_does_not_change_evaluation(smollm2_checkpoint, tmp_path):
    """A repetition penalty or top-k in generation_config.json must not leak into greedy or sampled answers."""
    from transformers import GenerationConfig

    skewed = tmp_path / "skewed"
    skewed.mkdir()
    for f in smollm2_checkpoint.iterdir():
        if f.name != "generation_config.json":
            (skewed / f.name).symlink_to(f)
    GenerationConfig(repetition_penalty=1.3, top_k=5, top_p=0.5, no_repeat_ngram_size=2, do_sample=True,
                     temperature=0.2).save_pretrained(skewed)
    prompts = [TEMPLATE.messages("Ava has 12 apples and gets 7 more. How many apples does she have?")]
    for n, temperature in [(1, 0.0), (2, 1.0)]:
        plain = HFGenerator(str(smollm2_checkpoint)).generate(prompts, n, 24, temperature, seed=1)
        assert HFGenerator(str(skewed)).generate(prompts, n, 24, temperature, seed=1) == plain


def test_report_table_has_a_row_per_stage_and_benchmark_and_the_plot_is_drawn(tmp_path):
    (tmp_path / "eval").mkdir()
    for stage, acc in [("base", 0.25), ("zero", 0.5)]:
        metrics = {"n": 4, "pass@1": acc, "format_rate": 0.0, "mean_length": 30.0}
        (tmp_path / "eval" / f"{stage}.json").write_text(json.dumps({"benchmarks": {"gsm8k": metrics}}))
    table = markdown_table(tmp_path)
    assert table.splitlines()[0] == "| stage | benchmark | n | pass@1 | format_rate | mean_length |"
    assert table.splitlines()[2:] == ["| base | gsm8k | 4 | 0.250 | 0.000 | 30.000 |",
                                      "| zero | gsm8k | 4 | 0.500 | 0.000 | 30.000 |"]
    run = tmp_path / "zero"
    run.mkdir()
    history = [{"step": s, "loss": 0.1, "reward": s / 10, "rewards/accuracy/mean": s / 20,
                "completions/mean_length": 40 - s} for s in (1, 2, 3)]
    (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    png = plot([run], tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
