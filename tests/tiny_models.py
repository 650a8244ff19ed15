"""Tiny random-weight backbones of each supported decoder family, built from conf/model/*.yaml."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf
from transformers import AutoModel

from harness.config import instantiate_group
from harness.models.backbone import load_config
from harness.models.info import ModelInfo

CONF = Path(__file__).resolve().parents[1] / "conf"
FAMILIES = ("tiny_llama", "tiny_mistral", "tiny_qwen2")


def model_spec(name: str):
    return instantiate_group(OmegaConf.load(CONF / "model" / f"{name}.yaml"), "model")


def tiny_backbone(name: str, attn_implementation: str = "sdpa"):
    """(base model, ModelInfo) with fixed random weights, no tokenizer needed."""
    spec = model_spec(name)
    config = load_config(spec)
    torch.manual_seed(0)
    model = AutoModel.from_config(config, attn_implementation=attn_implementation).eval()
    return model, ModelInfo.from_config(spec.name, spec.kind, config)


def method_from_yaml(path: Path):
    return instantiate_group(OmegaConf.load(path), "method")


def attention_for_method(path: Path):
    """The attention a method YAML chooses in its defaults list, sized for the tiny 4-layer models:
    layer groups of one layer, so a 4-bit pattern such as '0011' (meant for 32 layers in groups of
    8) still fits."""
    node = OmegaConf.load(path)
    choice = "causal"
    for entry in node.get("defaults", []):
        for key, value in (entry.items() if hasattr(entry, "items") else []):
            if "attention" in str(key):
                choice = value
    attention = OmegaConf.load(CONF / "attention" / f"{choice}.yaml")
    attention.group_size = 1
    return instantiate_group(attention, "attention")


def context(info: ModelInfo, formulation: str = "token_classification", stage: str = "train", **kwargs):
    from harness.methods.context import MethodContext

    return MethodContext(info=info, formulation=formulation, stage=stage, **kwargs)


def method_files() -> list[Path]:
    return sorted((CONF / "method").glob("*.yaml"))
