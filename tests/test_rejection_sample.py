"""scripts/rejection_sample.py: which samples become SFT rows."""

from conftest import answer

from helpers.generation import Sample
from rewards import get_reward_funcs
from scripts import rejection_sample


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
