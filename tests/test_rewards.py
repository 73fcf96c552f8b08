import math
import time
from pathlib import Path

import pytest

import rewards
from helpers.config import ConfigError
from rewards import REWARDS, RewardArguments, VerifyArguments, get_reward_funcs


def chat(text):
    return [{"role": "assistant", "content": text}]


def run(name, texts, **kwargs):
    """Call a registered reward the way GRPOTrainer does (through get_reward_funcs)."""
    (func,) = get_reward_funcs([name], {name: kwargs.pop("params")} if "params" in kwargs else None,
                               **kwargs.pop("shared", {}))
    return func([chat(t) for t in texts], **kwargs)


R1 = "<think>\n{think}\n</think>\n<answer>\n{answer}\n</answer>"


# --------------------------------------------------------------------------- accuracy


EQUIVALENT = [  # (gold, completion, verdict): the answer checking a grader would do
    ("72", R1.format(think="48+24", answer="72"), True),
    ("72", R1.format(think="", answer="72.0"), True),
    ("0.5", R1.format(think="", answer="\\frac{1}{2}"), True),
    ("\\frac{1}{2}", R1.format(think="", answer="0.5"), True),
    ("0.5", R1.format(think="", answer="\\frac12"), True),
    ("1000", R1.format(think="", answer="1,000"), True),
    ("72", R1.format(think="", answer="$72"), True),
    ("72", R1.format(think="", answer="\\$72"), True),
    ("72", R1.format(think="", answer="72 dollars"), True),
    ("72", R1.format(think="", answer="\\boxed{72}"), True),
    ("5\\sqrt{2}", R1.format(think="", answer="5\\sqrt{2}"), True),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", R1.format(think="", answer="(3, \\frac{\\pi}{2})"), True),
    ("72", "So the total is \\boxed{72}.", True),  # no tags: the last \boxed{} is the answer
    ("72", R1.format(think="", answer="\\boxed{71}"), False),
    ("72", R1.format(think="", answer="\\boxed{71} or \\boxed{72}"), False),  # hedging is wrong
    ("72", R1.format(think="", answer="71 or 72"), False),
    ("5", R1.format(think="", answer="6 - 5i"), False),  # read as LaTeX, not "a number in the text"
    ("6-5i", R1.format(think="", answer="6 - 5i"), True),
    ("(6,31,-1)", R1.format(think="", answer="(6, 31, -1)"), True),
    ("72", R1.format(think="", answer="The answer is 72."), True),
    ("72", R1.format(think="the answer is 72", answer="71"), False),  # only the final answer counts
    ("72", "<answer>72</answer> wait, no: <answer>71</answer>", False),
    ("71", "<answer>72</answer> wait, no: <answer>71</answer>", True),
    ("72", "\\boxed{72} ... actually \\boxed{71}", False),
    ("72", "72", False),  # no answer block and no \boxed{}: nothing to grade
    ("72", R1.format(think="", answer="seventy-two"), False),
    ("72", "<answer>\\boxed{72</answer>", False),
    # The container does not change the verdict: what reads as 72 in an answer block reads so in a box.
    ("72", R1.format(think="", answer="\\boxed{72 dollars}"), True),
    ("72", "So the total is \\boxed{72 dollars}.", True),
    ("72", R1.format(think="", answer="\\boxed{72 dollars.}"), True),
    ("72", R1.format(think="", answer="\\boxed{72.}"), True),
    ("72", R1.format(think="", answer="\\boxed{\\$72}"), True),
    ("72", R1.format(think="", answer="\\boxed{72\\text{ dollars}}"), True),
    ("1000", R1.format(think="", answer="\\boxed{1,000}"), True),
    ("72", R1.format(think="", answer="\\boxed{72} so \\boxed{72}"), True),
    # A long write-up in the answer block is graded by its last box.
    ("72", R1.format(think="", answer="We add. " * 200 + "So \\boxed{72}."), True),
    ("72", R1.format(think="", answer="We add. " * 200 + "So 72."), False),
]


@pytest.mark.parametrize("gold,completion,verdict", EQUIVALENT)
def test_accuracy_equivalences(gold, completion, verdict):
    assert run("accuracy", [completion], solution=[gold]) == [float(verdict)]


def test_accuracy_scores_a_batch_in_order():
    texts = [R1.format(think="", answer=a) for a in ["1", "2", "3", "4"]]
    assert run("accuracy", texts, solution=["1", "3", "3", "1"]) == [1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("gold", ["\\boxed{", "}{", "forty two", "seventy-two"])
@pytest.mark.parametrize("name", ["accuracy", "cosine"])
def test_a_gold_that_is_not_math_never_pays(name, gold):
    """Every completion of the group gets None, with or without an answer: nothing to gain by writing one."""
    texts = [R1.format(think="", answer="1"), R1.format(think="", answer="two forty"), "no answer at all"]
    assert run(name, texts, solution=[gold] * 3) == [None, None, None]


def test_usable_golds():
    golds = ["72", "-3.5", "\\frac{1}{2}", "\\text{(C)}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "}{",
             "forty two", "", None]
    assert rewards.usable_golds(golds) == [True, True, True, True, True, False, False, False, False]


# Golds in NuminaMath-TIR's and MATH's shapes that math-verify grades: (gold, a right answer, a wrong one).
LABELLED_AND_WORDED_GOLDS = [
    ("|AB|=1", "1", "2"),  # a labelled equation: the value after the last `=` is the answer
    ("AB=4,CD=5", "4, 5", "4, 6"),
    ("S_{MBCN}:S=7:32", "7:32", "7:31"),
    ("\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}", "\\frac{1}{\\sqrt{6}}", "\\frac{1}{6}"),
    ("19, 46, and 82", "19, 46, and 82", "19, 46, and 81"),  # lists and alternatives in words
    ("(11,7)or(7,11)", "(11,7),(7,11)", "(11,7)"),
    ("12\\text{ and }13", "12 and 13", "12 and 14"),
]


@pytest.mark.parametrize("gold,right,wrong", LABELLED_AND_WORDED_GOLDS)
def test_labelled_equations_and_worded_lists_are_graded(gold, right, wrong):
    assert rewards.usable_golds([gold]) == [True]
    texts = [R1.format(think="", answer=answer) for answer in (right, wrong, gold)]
    assert run("accuracy", texts, solution=[gold] * 3) == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("gold", ["forty two", "seventy-two", "yes", "twenty one and 5", "Answer is forty two."])
def test_golds_that_read_as_words_are_not_math(gold):
    """math-verify reads them as letters multiplied together (any rearrangement of the letters would pay),
    or, for a sentence, as its own text (any other sentence would fail, the same one pay)."""
    assert rewards.usable_golds([gold]) == [False]


def test_a_group_whose_gold_is_prose_is_left_out_not_graded():
    texts = [R1.format(think="", answer="Answer is forty three."), R1.format(think="", answer="Answer is forty two.")]
    assert run("accuracy", texts, solution=["Answer is forty two."] * 2) == [None, None]


def test_accuracy_logs_verification_metrics():
    logged = {}
    run("accuracy", [R1.format(think="", answer="1")], solution=["1"], log_metric=logged.__setitem__)
    assert logged == {"verify/timeouts": 0, "verify/crashes": 0, "rewards/accuracy/errors": 0}


def test_answer_tag_comes_from_the_template():
    text = "<reasoning>\nx\n</reasoning>\n<final>\n7\n</final>"
    assert run("accuracy", [text], solution=["7"], shared={"answer_tag": "final"}) == [1.0]
    assert run("accuracy", [text], solution=["7"]) == [0.0]


# --------------------------------------------------------------------------- format family


@pytest.mark.parametrize("text,expected", [
    (R1.format(think="add them", answer="72"), 1.0),
    ("<think>add</think><answer>72</answer>", 1.0),
    ("  <think>add</think>\n\n<answer>72</answer>\n", 1.0),
    ("<think></think><answer>72</answer>", 0.0),  # empty think
    ("<think> \n </think><answer>72</answer>", 0.0),
    ("<think>add</think><answer></answer>", 0.0),
    ("<think></think>72", 0.0),
    ("<think>add</think><answer>72</answer> and more", 0.0),  # nothing after
    ("Sure! <think>add</think><answer>72</answer>", 0.0),  # nothing before
    ("<think>a</think><answer>1</answer><think>b</think><answer>2</answer>", 0.0),  # two blocks
    ("<think>add</think></think><answer>72</answer></answer>", 0.0),  # repeated closing tags
    ("<answer>72</answer><think>add</think>", 0.0),
    ("<think>add</think> junk <answer>72</answer>", 0.0),
])
def test_format(text, expected):
    assert run("format", [text]) == [expected]


def test_format_uses_template_tags():
    text = "<reasoning>r</reasoning><answer>1</answer>"
    assert run("format", [text]) == [0.0]
    assert run("format", [text], shared={"reasoning_tag": "reasoning"}) == [1.0]


def test_tag_count_pays_per_tag_seen_once():
    assert run("tag_count", [R1.format(think="a", answer="b")]) == [1.0]
    assert run("tag_count", ["<think>\na\n</think>\n"]) == [0.5]
    assert run("tag_count", ["<think>\na\n</think>\n<think>\na\n</think>\n<answer>\nb\n</answer>"]) == [0.5]


XML = "<reasoning>\n{r}\n</reasoning>\n<answer>\n{a}\n</answer>\n"


def test_xml_recipe_rewards():
    good, sloppy = XML.format(r="6*12", a="72"), "<reasoning>6*12</reasoning> <answer>72</answer> bye"
    assert run("xml_correctness", [good, sloppy, XML.format(r="", a="72.0")], solution=["72"] * 3) == [2.0, 2.0, 0.0]
    assert run("xml_int", [good, XML.format(r="", a="7.5"), XML.format(r="", a="-3")]) == [0.5, 0.0, 0.0]
    assert run("xml_strict_format", [good, good.rstrip("\n"), sloppy, "x" + good]) == [0.5, 0.5, 0.0, 0.0]
    assert run("xml_soft_format", [good, sloppy, "x" + good]) == [0.5, 0.5, 0.0]
    counts = run("xml_count", [good, sloppy, good + "tail"])
    assert counts[0] == 0.5 and counts[1] == 0.0 and counts[2] == pytest.approx(0.5 - 0.004)


def test_xml_count_is_bounded_below():
    assert run("xml_count", [XML.format(r="", a="1") + "x" * 100_000]) == [-0.5]


# --------------------------------------------------------------------------- reasoning, length, repetition


def test_a_step_may_start_with_a_transition_word():
    text = "<think>\nStep 1: First, add 3 and 4 to get 7.\nStep 2: Then, double 7 to get 14.\n</think>"
    assert run("reasoning_steps", [text]) == [pytest.approx(2 / 3)]


def test_reasoning_steps_counts_substantive_distinct_steps():
    real = ("<think>\nStep 1: add 48 and 24 apples.\nStep 2: that gives 72 apples.\n"
            "Finally, check the sum again.\n</think>")
    assert run("reasoning_steps", [real]) == [1.0]
    assert run("reasoning_steps", ["<think>\n1. add the two numbers\n</think>"]) == [pytest.approx(1 / 3)]
    hacks = ["Step 1: Step 2: Step 3:", "Step 1:\nStep 2:\nStep 3:", "- add it up now\n" * 5,
             "1. First, add them up\n2. Then, add them up\n3. Finally, add them up"]
    assert run("reasoning_steps", hacks) == [0.0, 0.0, pytest.approx(1 / 3), pytest.approx(1 / 3)]


def test_steps_named_by_their_ordinal_are_distinct_steps():
    """open-r1's case: each line has text after its marker, and the lines differ; an ordinal without a
    comma is the step's text, not a marker."""
    text = "Step 1: First step\nStep 2: Second step\nStep 3: Third step"
    assert run("reasoning_steps", [text], params={"min_words": 1}) == [1.0]
    assert run("reasoning_steps", ["Step 1: First step here\nStep 2: Second step here"]) == [pytest.approx(2 / 3)]
    assert run("reasoning_steps", ["Step 1: First step\nStep 2: First step"], params={"min_words": 1}) == [
        pytest.approx(1 / 3)]


def test_cosine_shape():
    params = {"max_len": 100}
    right, wrong = R1.format(think="", answer="72"), R1.format(think="", answer="71")
    short, long, over = [0] * 10, [0] * 90, [0] * 100
    scores = run("cosine", [right, right, wrong, wrong, right], solution=["72"] * 5,
                 completion_ids=[short, long, short, long, over], params=params)
    short_right, long_right, short_wrong, long_wrong, truncated = scores
    assert 1.0 >= short_right > long_right >= 0.5  # short correct is best
    assert -1.0 <= short_wrong < long_wrong <= -0.5  # long wrong is least bad
    assert long_right > long_wrong
    assert truncated == -1.0
    assert run("cosine", [right], solution=["72"], completion_ids=[[]], params=params) == [1.0]


def test_cosine_penalises_only_truncated_completions():
    """TRL's completion_ids end with EOS when the model stopped: that token is not length."""
    eos = 2
    right = R1.format(think="", answer="72")
    finished, truncated = [0] * 99 + [eos], [0] * 100
    scores = run("cosine", [right, right], solution=["72"] * 2, completion_ids=[finished, truncated],
                 params={"max_len": 100}, shared={"eos_token_ids": [eos]})
    assert scores[0] > 0.5 and scores[1] == -1.0


def test_cosine_without_token_ids_estimates_from_characters():
    text = R1.format(think="x" * 390, answer="72")  # ~100 tokens
    assert run("cosine", [text], solution=["72"], params={"max_len": 100}) == [-1.0]


def test_repetition_counts_characters_in_scripts_without_spaces():
    assert run("repetition", ["我们先算一下然后再检查答案"]) == [0.0]
    assert run("repetition", ["答案是四" * 10]) == [pytest.approx(-34 / 38)]  # 38 trigrams, 4 distinct
    assert run("repetition", ["答えは四です。" * 5])[0] < -0.5


def test_repetition_penalty():
    assert run("repetition", ["the cat sat on the mat today"]) == [0.0]
    assert run("repetition", ["go " * 50]) == [pytest.approx(-47 / 48)]
    assert run("repetition", ["one two"]) == [0.0]
    assert run("repetition", ["a b c a b c"], params={"max_penalty": -0.5}) == [pytest.approx(-0.5 * 1 / 4)]


# --------------------------------------------------------------------------- language consistency


def test_language_consistency():
    english = [[{"role": "system", "content": "系统"}, {"role": "user", "content": "What is 2+2?"}]]
    chinese = [[{"role": "user", "content": "二加二等于几？"}]]
    assert run("language_consistency", ["The answer is four."], prompts=english) == [1.0]
    assert run("language_consistency", ["答案是四"], prompts=english) == [0.0]
    mixed = run("language_consistency", ["答案是 four"], prompts=chinese)[0]
    assert mixed == pytest.approx(3 / 7)
    assert run("language_consistency", ["4"], prompts=english) == [1.0]


# --------------------------------------------------------------------------- registry and guard


def test_registry_builds_named_rewards_with_config_parameters():
    funcs = get_reward_funcs(["accuracy", "repetition"], {"repetition": {"ngram_size": 2}})
    assert [f.__name__ for f in funcs] == ["accuracy", "repetition"]
    assert funcs[1]([chat("a b a b")]) == [pytest.approx(-1 / 3)]


@pytest.mark.parametrize("names,kwargs,message", [
    (["acuracy"], None, "allowed: ['accuracy'"),
    (["repetition"], {"repetition": {"max_penalty": 1.0}},
     "reward_kwargs.repetition.max_penalty: 1.0 is out of range; allowed: <= 0"),
    (["repetition"], {"repetition": {"ngram_size": 0}},
     "reward_kwargs.repetition.ngram_size: 0 is out of range; allowed: >= 1"),
    (["repetition"], {"repetition": {"ngram_size": 2.5}}, "ngram_size: 2.5 is not of type int"),
    (["cosine"], {"cosine": {"max_len": 0}}, "reward_kwargs.cosine.max_len: 0 is out of range; allowed: > 0"),
    (["cosine"], {"cosine": {"exceed_length_penalty": 0.5}},
     "exceed_length_penalty: 0.5 is out of range; allowed: <= 0"),
    (["cosine"], {"cosine": {"max_len": "512"}}, "max_len: '512' is not of type int"),
    (["reasoning_steps"], {"reasoning_steps": {"target_steps": 0}}, "target_steps: 0 is out of range; allowed: >= 1"),
    (["cosine"], {"cosine": {"maxlen": 5}}, "unknown parameter 'maxlen'; allowed: ['answer_tag'"),
    (["format"], {"cosine": {"max_len": 5}}, "'cosine' is not in reward_funcs"),
])
def test_registry_rejects_bad_config(names, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        get_reward_funcs(names, kwargs)


def test_reward_arguments_are_checked_when_built():
    """A bad reward_kwargs (YAML mapping or command-line JSON) fails where RewardArguments is made, as a ConfigError."""
    assert RewardArguments(reward_funcs=["cosine"], reward_kwargs='{"cosine": {"max_len": 64}}').reward_kwargs == {
        "cosine": {"max_len": 64}}
    assert RewardArguments().reward_kwargs == {}
    for kwargs, message in [({"cosine": {"max_len": 0}}, "reward_kwargs.cosine.max_len: 0 is out of range"),
                            ("{cosine: 1", "reward_kwargs: not valid JSON"),
                            ([1], "reward_kwargs: expected a mapping")]:
        with pytest.raises(ConfigError, match=message):
            RewardArguments(reward_funcs=["cosine"], reward_kwargs=kwargs)
    with pytest.raises(ConfigError, match=r"reward_funcs: unknown reward\(s\) \['acc'\]"):
        RewardArguments(reward_funcs=["acc"])


@pytest.mark.parametrize("key,value,allowed", [("verify_workers", 0, ">= 1"), ("verify_timeout_s", 0.0, "> 0"),
                                               ("verify_memory_mb", 100, ">= 256")])
def test_verify_settings_are_range_checked_by_name(key, value, allowed):
    with pytest.raises(ConfigError, match=f"{key}: {value!r} is out of range; allowed: {allowed}"):
        VerifyArguments(**{key: value})


def test_tag_blocks_names_its_parts():
    blocks = rewards.tag_blocks(" <think>r</think>\n<answer>a</answer>!", "think", "answer")
    assert blocks == (" ", "r", "\n", "a", "!")
    assert (blocks.before, blocks.reasoning, blocks.between, blocks.answer, blocks.after) == (" ", "r", "\n", "a", "!")
    assert rewards.tag_blocks("<answer>a</answer><think>r</think>", "think", "answer") is None


def test_parameters_in_range_are_accepted():
    (func,) = get_reward_funcs(["repetition"], {"repetition": {"ngram_size": 2, "max_penalty": -0.5}})
    assert func([chat("a b a b")]) == [pytest.approx(-0.5 / 3)]
    get_reward_funcs(["cosine"], {"cosine": {"max_len": 512, "min_value_wrong": -2}})  # an int for a float is fine


def test_a_reward_that_keeps_raising_stops_the_run(monkeypatch):
    calls = []

    def flaky(completions, **kwargs):
        calls.append(1)
        if len(calls) in (1, 3, 4, 5):
            raise OSError("pool gone")
        return [1.0] * len(completions)

    monkeypatch.setitem(REWARDS, "flaky", flaky)
    (func,) = get_reward_funcs(["flaky"])
    assert func([chat("x")]) == [0.0]  # one bad batch: scored 0, training goes on
    assert func([chat("x")]) == [1.0]  # and a good batch resets the count
    assert func([chat("x")]) == [0.0] and func([chat("x")]) == [0.0]
    with pytest.raises(rewards.RewardFailure,
                       match="reward 'flaky' raised on 3 batches in a row, last: OSError: pool gone"):
        func([chat("x")])


def test_guard_turns_exceptions_and_non_finite_values_into_zero(monkeypatch):
    def broken(completions, **kwargs):
        raise RuntimeError("boom")

    def nan(completions, **kwargs):
        return [math.nan, math.inf, None, 0.5][: len(completions)]

    monkeypatch.setitem(REWARDS, "broken", broken)
    monkeypatch.setitem(REWARDS, "nan", nan)
    logged = {}
    broken_reward, nan_reward = get_reward_funcs(["broken", "nan"])
    assert broken_reward([chat("x")] * 2, log_metric=logged.__setitem__) == [0.0, 0.0]
    assert logged["rewards/broken/errors"] == 2
    assert nan_reward([chat("x")] * 4, log_metric=logged.__setitem__) == [0.0, 0.0, None, 0.5]
    assert logged["rewards/nan/errors"] == 2


# --------------------------------------------------------------------------- adversarial corpus

POWER_TOWER = "\\boxed{\\dfrac{5^{\\left(5^{\\left(5^{\\left(5^5\\right)}\\right)} - 4\\right)} - 5}{16}}"
ADVERSARIAL = {
    "power tower": POWER_TOWER,
    "power tower in answer": R1.format(think="big", answer=POWER_TOWER),
    "huge factorial": R1.format(think="", answer="\\boxed{(10^{8})!}"),
    "1 MB completion": "<think>" + "lorem ipsum dolor " * 58_000 + "</think><answer>72</answer>",
    "1 MB of tags": "<think><answer>" * 70_000,
    "deeply nested braces": "\\boxed{" + "{" * 40 + "1" + "}" * 40 + "}",
    "unterminated boxed": "the answer is \\boxed{72",
    "unterminated answer": "<think>x</think><answer>72",
    "NUL bytes": "<think>\x00\x00</think><answer>7\x002</answer>",
    "lone surrogates": "<think>\ud800</think><answer>\udfff72</answer>",
    "empty": "",
    "whitespace": " \n\t ",
    "only tags": "<think></think><answer></answer>",
    "latex garbage": "<answer>\\frac{\\frac{\\frac{}{}}{}\\sqrt[\\sqrt[}{</answer>",
}
RAW_COMPLETIONS = {"None": None, "empty message list": [], "string": "<answer>72</answer>", "number": 72}


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_every_reward_survives_the_adversarial_corpus(name):
    completions = [chat(text) for text in ADVERSARIAL.values()] + list(RAW_COMPLETIONS.values())
    n = len(completions)
    prompts = [[{"role": "user", "content": "What is 70 + 2?"}]] * n
    (func,) = get_reward_funcs([name])
    start = time.monotonic()
    scores = func(completions, solution=["72"] * n, prompts=prompts, completion_ids=[[1] * 10] * n)
    elapsed = time.monotonic() - start
    assert len(scores) == n
    assert all(s is not None and math.isfinite(s) for s in scores), scores
    # 3 s hard limit per check, 2 workers, a handful of slow inputs: far below this bound.
    assert elapsed < 60, f"{name} took {elapsed:.1f} s"


def test_adversarial_answers_never_count_as_correct():
    texts = list(ADVERSARIAL.values())
    scores = run("accuracy", texts, solution=["72"] * len(texts))
    correct = {name for name, s in zip(ADVERSARIAL, scores) if s == 1.0}
    assert correct <= {"NUL bytes", "1 MB completion"}, correct


def test_final_answer_is_capped_before_parsing():
    huge = "<answer>" + "1" * (rewards.MAX_ANSWER_CHARS + 1) + "</answer>"
    assert rewards.final_answer(huge) is None
    assert rewards.final_answer("<answer> 72 </answer>") == "72"
    assert rewards.final_answer("<answer>" + "x" * 2000 + "\\boxed{\\frac{1}{2}}</answer>") == "\\frac{1}{2}"
    assert rewards.final_answer("<answer>\\boxed{71} or \\boxed{72}</answer>") == "\\boxed{71} or \\boxed{72}"


def test_the_readme_example_of_adding_a_reward_works(monkeypatch):
    readme = (Path(rewards.__file__).parent / "README.md").read_text()
    block = readme.split("```python\n# rewards.py\n")[1].split("```")[0]
    monkeypatch.setattr(rewards, "REWARDS", dict(REWARDS))
    exec(block, vars(rewards))  # noqa: S102 (our own README)
    (func,) = rewards.get_reward_funcs(["short_answer"], {"short_answer": {"max_chars": 2}})
    assert func([chat("<answer>72</answer>"), chat("<answer>720</answer>")]) == [1.0, 0.0]
