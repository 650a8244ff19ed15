"""What methods may know about a backbone before any weights load: its shape and family."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    """Shape facts read from the model's config (cheap: no weights)."""

    name: str
    family: str  # transformers model_type: llama, mistral, qwen2, bert, ...
    kind: str  # decoder | encoder
    num_layers: int
    num_heads: int
    num_kv_heads: int
    hidden_size: int
    head_dim: int
    vocab_size: int

    @classmethod
    def from_config(cls, name: str, kind: str, config) -> "ModelInfo":
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(
            name=name,
            family=config.model_type,
            kind=kind,
            num_layers=config.num_hidden_layers,
            num_heads=heads,
            num_kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            hidden_size=config.hidden_size,
            head_dim=head_dim,
            vocab_size=config.vocab_size,
        )
