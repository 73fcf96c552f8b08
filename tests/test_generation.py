"""helpers/generation.py: seeded, and a checkpoint's own generation settings never leak in."""

import pytest

from data import DataArguments, load_prompt_template
from helpers.generation import HFGenerator

TEMPLATE = load_prompt_template("r1_zero", DataArguments().prompt_templates_file)


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
