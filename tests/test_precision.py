"""fp32 master weights: at the GPU recipes' learning rate, one AdamW step must move nearly every weight.

With bf16 weights (`dtype: bfloat16`) the Trainer keeps no fp32 copy and updates of ~1e-6 round
away; the config check refuses that, and this measures why on the real SmolLM2-135M-Instruct.
"""

import pytest
from conftest import REPO_ROOT
from datasets import Dataset
from trl import GRPOConfig, ModelConfig, SFTConfig, SFTTrainer

from data import DataArguments, load_prompt_template
from helpers.config import cpu_supports_bf16, parse_config
from helpers.training import set_model_init_kwargs
from rewards import RewardArguments


def share_of_weights_changed(model_path, dtype: str, learning_rate: float, tmp_path, bf16: bool) -> float:
    """One real SFTTrainer step (`bf16`: bf16 compute), as a share of all weights that moved."""
    template = load_prompt_template("r1_zero", DataArguments().prompt_templates_file)
    row = {"prompt": template.messages("Ava has 12 apples and gets 7 more. How many now?"),
           "completion": [{"role": "assistant", "content": template.completion("12 + 7 = 19", "19")}]}
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=bf16, report_to="none", max_steps=1,
                     learning_rate=learning_rate, lr_scheduler_type="constant", save_strategy="no",
                     per_device_train_batch_size=2)
    set_model_init_kwargs(args, ModelConfig(dtype=dtype))
    trainer = SFTTrainer(model=str(model_path), args=args, train_dataset=Dataset.from_list([row] * 2))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train()
    changed = sum((p.detach() != b).sum().item() for p, b in zip(trainer.model.parameters(), before))
    return changed / sum(b.numel() for b in before)


needs_cpu_bf16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="no AVX512-BF16/AMX on this CPU (or R1_CPU_BF16=0)")
COMPUTE = [pytest.param(True, id="bf16-compute", marks=needs_cpu_bf16), pytest.param(False, id="fp32-compute")]


@pytest.mark.precision
@pytest.mark.parametrize("bf16", COMPUTE)
@pytest.mark.parametrize("config", ["zero.yaml", "r1.yaml"])
def test_one_step_at_the_recipe_learning_rate_moves_nearly_every_weight(smollm2_checkpoint, tmp_path, config, bf16):
    _, _, training_args, model_args = parse_config(
        (DataArguments, RewardArguments, GRPOConfig, ModelConfig),
        ["--config", str(REPO_ROOT / "configs" / config), "--use_cpu", "true", "--use_vllm", "false"])
    assert share_of_weights_changed(smollm2_checkpoint, model_args.dtype, training_args.learning_rate,
                                    tmp_path, bf16) > 0.95


@pytest.mark.precision
def test_bf16_weights_lose_the_update(smollm2_checkpoint, tmp_path):
    """The defect the config check refuses: the same step with bf16 weights leaves most weights unchanged."""
    assert share_of_weights_changed(smollm2_checkpoint, "bfloat16", 1e-6, tmp_path, cpu_supports_bf16()) < 0.2
