import json
import logging
import re

import pytest
import yaml
from conftest import FIXTURES, REPO_ROOT, SHARED_DATA

import data
from data import DataArguments, load_prompt_template, load_rl_dataset, load_sft_dataset
from rewards import get_reward_funcs

R1_SYSTEM_START = "A conversation between User and Assistant."


def load(**kwargs):
    return load_rl_dataset(DataArguments(**kwargs))


def test_gsm8k_from_the_real_folder():
    train = load(dataset_name=str(SHARED_DATA / "gsm8k"), dataset_format="gsm8k")
    test = load(dataset_name=str(SHARED_DATA / "gsm8k"), dataset_format="gsm8k", dataset_train_split="test")
    assert (len(train), len(test)) == (7473, 1319)
    first = train[0]
    assert first["solution"] == "72"
    system, user = first["prompt"]
    assert system["role"] == "system" and system["content"].startswith(R1_SYSTEM_START)
    assert user == {"role": "user", "content": first_question()}
    assert all(s.lstrip("-").replace(".", "").isdigit() for s in test["solution"])


def first_question():
    import json

    with open(SHARED_DATA / "gsm8k" / "train.jsonl") as f:
        return json.loads(f.readline())["question"]


def test_math500_from_the_real_file_keeps_latex_answers():
    ds = load(dataset_name=str(SHARED_DATA / "math500" / "test.jsonl"), dataset_format="math500")
    assert len(ds) == 500
    assert ds[0]["solution"] == "\\left( 3, \\frac{\\pi}{2} \\right)"


def test_numina_tir_fixture_takes_the_last_boxed_and_drops_bad_rows(caplog):
    with caplog.at_level(logging.WARNING):
        ds = load(dataset_name=str(FIXTURES / "numina_tir.jsonl"), dataset_format="numina_tir")
    assert ds["solution"] == ["\\frac{63}{400}", "2", "120"]
    assert "dropped 2 of 5 rows" in caplog.text


def test_numina_tir_rows_with_labelled_or_worded_golds_are_kept(caplog):
    """Only the gold that reads as words (`forty two`) is dropped."""
    with caplog.at_level(logging.WARNING):
        ds = load(dataset_name=str(FIXTURES / "numina_tir_labelled_golds.jsonl"), dataset_format="numina_tir")
    assert ds["solution"] == ["|AB|=1", "AB=4,CD=5", "S_{MBCN}:S=7:32", "\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}",
                              "19, 46, and 82", "(11,7)or(7,11)", "12\\text{ and }13"]
    assert "dropped 1 of 8 rows" in caplog.text


def test_bad_gsm8k_rows_are_skipped_and_counted(caplog):
    with caplog.at_level(logging.WARNING):
        ds = load(dataset_name=str(FIXTURES / "gsm8k_with_bad_rows.jsonl"), dataset_format="gsm8k")
    assert ds["solution"] == ["7", "1250"]
    assert "dropped 3 of 5 rows" in caplog.text


def test_rows_whose_gold_is_not_math_are_dropped_and_counted(tmp_path, caplog):
    import json

    path = tmp_path / "golds.jsonl"
    answers = ["72", "forty two", "}{", "\\frac{1}{2}", "\\text{(C)}"]
    path.write_text("".join(json.dumps({"problem": f"problem {i}", "answer": a}) + "\n" for i, a in enumerate(answers)))
    with caplog.at_level(logging.WARNING):
        ds = load(dataset_name=str(path), dataset_format="math500")
    assert ds["solution"] == ["72", "\\frac{1}{2}", "\\text{(C)}"]
    assert "dropped 2 of 5 rows" in caplog.text and "no usable gold" in caplog.text


def test_max_train_samples():
    assert len(load(dataset_name=str(SHARED_DATA / "gsm8k"), dataset_format="gsm8k", max_train_samples=10)) == 10


def test_the_gsm8k_xml_template():
    ds = load(dataset_name="arithmetic", arithmetic_size=3, prompt_template="gsm8k_xml")
    assert ds[0]["prompt"][0]["content"].startswith("Respond in the following format:\n<reasoning>")


def test_arithmetic_problems_are_deterministic_and_their_golds_are_right():
    a = data.arithmetic_problems(50, seed=1)
    assert a[:] == data.arithmetic_problems(50, seed=1)[:]
    assert a[:] != data.arithmetic_problems(50, seed=2)[:]
    for row in a:
        calculations = re.findall(r"<<([^=]+)=(\d+)>>\2", row["answer"])  # GSM8K's calculator notes
        assert calculations
        for expression, value in calculations:
            assert eval(expression) == int(value)  # noqa: S307 (our own arithmetic)
        assert calculations[-1][1] == data.gsm8k_gold(row["answer"]) and int(calculations[-1][1]) >= 0


def test_arithmetic_kinds_can_be_chosen():
    only_wages = data.arithmetic_problems(20, seed=0, kinds=["wage"])
    assert all("an hour" in q for q in only_wages["question"])
    everything = data.arithmetic_problems(200, seed=0)["question"]
    assert {"an hour" in q for q in everything} == {True, False}
    with pytest.raises(ValueError, match=r"arithmetic_kinds: unknown \['wages'\]; allowed: \['add_sub', 'multiply'"):
        data.arithmetic_problems(5, kinds=["wages"])


def test_every_wording_asks_the_same_questions_and_reworded_shares_no_template():
    generator = data.arithmetic_problems(200, seed=1000, split="test")
    for wording in ("varied", "reworded"):
        other = data.arithmetic_problems(200, seed=1000, wording=wording, split="test")
        assert other["answer"] == generator["answer"]  # same numbers, steps and golds
        assert other["key"] == generator["key"]  # so on the same side of the split
        assert all(sorted(re.findall(r"\d+", g)) == sorted(re.findall(r"\d+", o))
                   for g, o in zip(generator["question"], other["question"]))
    varied = data.arithmetic_problems(200, seed=1000, wording="varied", split="test")["question"]
    assert 0 < sum(v == g for v, g in zip(varied, generator["question"])) < 150  # the generator's wording, and others
    templates = {w: {t for ts in kinds.values() for t in ts} for w, kinds in data.ARITHMETIC_WORDINGS.items()}
    assert templates["generator"] < templates["varied"]
    assert not templates["reworded"] & templates["varied"]  # held out from every training wording
    with pytest.raises(ValueError, match=r"arithmetic_wording: unknown 'other'; allowed: \['generator', 'reworded', "):
        load(dataset_name="arithmetic", arithmetic_size=3, arithmetic_wording="other")


def test_no_training_seed_can_produce_a_problem_of_the_evaluation_sets():
    """20,000 training problems (seeds 0-9, as the demo's SFT and GRPO configs and the study's SFT baseline
    draw them) and the evaluation sets of scripts/evaluate.py (the demo and the study evaluate a prefix of
    them): no (kind, numbers) in common, in any wording. Before the split, 130 of 200 were in common."""
    from scripts.evaluate import EvalArguments, benchmark_rows

    train = set()
    for seed in range(10):
        train |= set(data.arithmetic_problems(2000, seed=seed, wording="varied")["key"])
    evaluation = EvalArguments(model="unused", benchmarks=["arithmetic", "arithmetic_reworded"])
    for name in evaluation.benchmarks:
        keys = set(benchmark_rows(evaluation, name)["key"])
        assert len(keys) > 150 and not keys & train, name
    # every config that trains on `arithmetic` draws from the train split (DataArguments' default)
    for config in (REPO_ROOT / "configs").glob("*.yaml"):
        keys = yaml.safe_load(config.read_text())
        if keys.get("dataset_name") == "arithmetic":
            assert keys.get("dataset_train_split", DataArguments().dataset_train_split) == "train", config


def numbers_in_question(question: str) -> tuple:
    """A generator-worded problem as its kind and numbers, read off the text (not data.problem_key):
    numbers whose order does not change the answer sorted, the way a memorising model would see them."""
    kind = next(k for k, (t,) in data.ARITHMETIC_WORDINGS["generator"].items() if question.endswith(t.split("}")[-1]))
    numbers = [int(n) for n in re.findall(r"\d+", question)]
    return (kind, *sorted(numbers[:2]), *numbers[2:]) if kind != "share" else (kind, *numbers)


def test_evaluation_problems_read_off_their_text_never_occur_in_training():
    train = {numbers_in_question(q) for seed in range(5) for q in data.arithmetic_problems(2000, seed=seed)["question"]}
    test = {numbers_in_question(q) for q in data.arithmetic_problems(200, seed=1000, split="test")["question"]}
    assert len(test) > 150 and not train & test


def test_each_kind_has_hundreds_of_evaluation_problems_and_both_splits_are_drawn_from():
    for kind in data.ARITHMETIC_KINDS:
        test = set(data.arithmetic_problems(4000, seed=5, kinds=[kind], split="test")["key"])
        train = set(data.arithmetic_problems(4000, seed=5, kinds=[kind], split="train")["key"])
        assert len(test) >= 300 and len(train) >= 250 and not test & train, kind
    # the key is the problem, commuting numbers in either order: 3 boxes of 7 is 7 boxes of 3
    assert data.problem_key("multiply", {"a": 3, "b": 7}) == data.problem_key("multiply", {"a": 7, "b": 3})
    assert data.problem_key("share", {"friends": 3, "total": 21}) != data.problem_key("share", {"friends": 7,
                                                                                               "total": 21})
    with pytest.raises(ValueError, match=r"split of `arithmetic` .*unknown 'validation'; allowed: \['train', 'test'\]"):
        data.arithmetic_problems(3, split="validation")


def template_index(kind: str, wording: str, question: str) -> int:
    templates = data.ARITHMETIC_WORDINGS[wording][kind]
    patterns = [re.sub(r"\\\{\w+\\\}", ".+?", re.escape(t)) for t in templates]
    return next(i for i, p in enumerate(patterns) if re.fullmatch(p, question))


def test_the_wording_does_not_follow_from_the_draws_that_made_the_numbers():
    """Over 300 seeds, the first problem's template and its name (the first draw of the numbers' stream)
    are independent: with one seed for both streams, the name fixed the template in 269 of 300 seeds."""
    same = 0
    for seed in range(300):
        row = data.arithmetic_problems(1, seed=seed, kinds=["share"], wording="varied")[0]
        name = next(i for i, n in enumerate(data._NAMES) if re.search(rf"\b{n}\b", row["question"]))
        same += template_index("share", "varied", row["question"]) == name // 4
    assert same / 300 < 0.5


def test_gold_answers_from_real_data_are_kept_and_graded_correct_by_the_accuracy_reward():
    """No real gold is dropped at load, and the loader's gold and the reward's parser agree: a model that
    writes the gold scores 1. MATH-500 read as NuminaMath-TIR (the last box of each worked solution) too."""
    for dataset_format, path in [("gsm8k", SHARED_DATA / "gsm8k"), ("math500", SHARED_DATA / "math500"),
                                 ("numina_tir", SHARED_DATA / "math500" / "test.jsonl")]:
        ds = load(dataset_name=str(path), dataset_format=dataset_format, dataset_train_split="test")
        rows = (path if path.is_file() else path / "test.jsonl").read_text().count("\n")
        assert len(ds) == rows, (dataset_format, rows - len(ds), "rows dropped")
        (accuracy,) = get_reward_funcs(["accuracy"])
        completions = [[{"role": "assistant", "content": f"<think>x</think><answer>{s}</answer>"}]
                       for s in ds["solution"]]
        scores = accuracy(completions, solution=ds["solution"])
        wrong = [gold for gold, score in zip(ds["solution"], scores) if score != 1.0]
        assert wrong == [], (dataset_format, wrong)


@pytest.mark.parametrize("kwargs,message", [
    ({"dataset_name": "some/unknown-hub-id"},
     "dataset_format: required .* allowed: \\['gsm8k', 'math500', 'numina_tir'\\]"),
    ({"dataset_name": "arithmetic", "dataset_format": "gsm9k"}, "dataset_format: unknown 'gsm9k'"),
    ({"dataset_name": "arithmetic", "prompt_template": "r1"},
     "prompt_template: 'r1' unknown; allowed .*'gsm8k_xml', 'r1_short', 'r1_zero'"),
    ({"dataset_name": str(SHARED_DATA / "math500" / "test.jsonl"), "dataset_format": "gsm8k"},
     "missing column\\(s\\) \\['question'\\]"),
    ({"dataset_name": str(FIXTURES / ".." / "conftest.py"), "dataset_format": "gsm8k"}, "allowed file types"),
])
def test_bad_data_config_names_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load(**kwargs)


def test_a_template_must_show_its_tags(tmp_path):
    path = tmp_path / "prompts.yaml"
    path.write_text("broken:\n  system_prompt: Think first.\n  reasoning_tag: think\n  answer_tag: answer\n")
    with pytest.raises(ValueError, match="never shows the <think> tag"):
        load_prompt_template("broken", path)


# --------------------------------------------------------------------------- SFT traces


BESPOKE = str(FIXTURES / "bespoke_stratos.jsonl")


def load_sft(**kwargs):
    return load_sft_dataset(DataArguments(dataset_name=BESPOKE, dataset_format="bespoke_stratos", **kwargs))


def test_bespoke_traces_become_the_rl_format(caplog):
    with caplog.at_level(logging.WARNING):
        ds = load_sft()
    assert "dropped 2 of 4 rows" in caplog.text  # no thought/solution markers; a proof with no final answer
    row = ds[0]
    system, user = row["prompt"]
    assert system["content"] == load_prompt_template("r1_zero", DataArguments().prompt_templates_file).system_prompt
    assert user["content"].startswith("The operation $\\otimes$")
    assert "Return your final response" not in user["content"]
    (assistant,) = row["completion"]
    text = assistant["content"]
    assert text.startswith("<think>\nOkay, let me compute") and "<|begin_of_thought|>" not in text
    # The written-up solution goes to the reasoning; the answer block holds the final answer only.
    assert "\n\nWe have $(1\\otimes 2)" in text.split("</think>")[0]
    assert text.endswith("</think>\n<answer>\n-\\frac{2}{3}\n</answer>")
    # The converted traces earn exactly what the RL stage pays for.
    fmt, tags, accuracy = get_reward_funcs(["format", "tag_count", "accuracy"])
    assert fmt([row["completion"]]) == [1.0]
    assert tags([row["completion"]]) == [1.0]
    assert accuracy([row["completion"]], solution=["-2/3"]) == [1.0]
    cosine = get_reward_funcs(["cosine"], {"cosine": {"max_len": 1000}})[0]
    assert cosine([row["completion"]], solution=["-2/3"])[0] > 0.9  # short and correct


def test_gsm8k_schema_rows_become_think_answer_traces():
    """GSM8K's worked solutions (and the generator's, in the same schema) are SFT traces too."""
    from conftest import SHARED_DATA

    gsm8k = load_sft_dataset(DataArguments(dataset_name=str(SHARED_DATA / "gsm8k" / "train.jsonl"),
                                           dataset_format="gsm8k", max_train_samples=2))
    text = gsm8k[0]["completion"][0]["content"]
    assert text == ("<think>\nNatalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether "
                    "in April and May.\n</think>\n<answer>\n72\n</answer>")
    arithmetic = load_sft_dataset(DataArguments(dataset_name="arithmetic", arithmetic_size=20))
    assert len(arithmetic) == 20
    fmt, accuracy = get_reward_funcs(["format", "accuracy"])
    golds = [row["answer"].rsplit("#### ", 1)[1] for row in __import__("data").arithmetic_problems(20)]
    assert fmt(arithmetic["completion"]) == [1.0] * 20
    assert accuracy(arithmetic["completion"], solution=golds) == [1.0] * 20
    assert all("<<" not in c[0]["content"] for c in arithmetic["completion"])  # calculator notes removed


def test_the_xml_template_gives_reasoning_tags():
    text = load_sft(prompt_template="gsm8k_xml")[0]["completion"][0]["content"]
    assert text.startswith("<reasoning>\n") and "\n</reasoning>\n<answer>\n" in text


def test_rejection_sampled_files_join_through_the_same_path(tmp_path):
    extra = tmp_path / "sampled.jsonl"
    row = {"prompt": [{"role": "user", "content": "1+1?"}],
           "completion": [{"role": "assistant", "content": "<think>\n1+1\n</think>\n<answer>\n2\n</answer>"}]}
    extra.write_text(json.dumps(row) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    ds = load_sft(extra_train_files=[str(extra), str(empty)])
    assert len(ds) == 3 and ds[-1] == row


def test_missing_columns_are_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": []}) + "\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['conversations'\]"):
        load_sft_dataset(DataArguments(dataset_name=str(bad), dataset_format="bespoke_stratos"))
    with pytest.raises(ValueError,
                       match=r"dataset_format: unknown 'numina_tir'; allowed: \['bespoke_stratos', 'gsm8k'"):
        load_sft_dataset(DataArguments(dataset_name=str(bad), dataset_format="numina_tir"))
