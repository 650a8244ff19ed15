"""The model group's schema: where a backbone's weights and tokenizer come from.

One dataclass for every source so that `conf/model/*.yaml` files share one vocabulary:
a Hub id or local directory, a GGUF file inside an installed package, or random weights from a
config (tiny models for tests; real shapes such as Mistral-7B's for cost measurements).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCES = ("hub", "local", "gguf_package", "package_dir", "random")
DTYPES = ("float32", "bfloat16", "float16")
QUANTIZATIONS = (None, "nf4")
ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


@dataclass
class TokenizerSource:
    """Where to read a tokenizer when it does not come with the weights (random-weight models)."""

    source: str = "gguf_package"
    """One of hub, local, gguf_package, package_dir."""
    path: str = ""
    """Hub id, local directory, or the installed package's import name."""
    gguf_file: str | None = None
    """GGUF file name inside the package (source gguf_package)."""
    subdir: str = ""
    """Folder inside the package holding the tokenizer files (source package_dir)."""


@dataclass
class ModelSpec:
    """A pretrained backbone: its name, where it comes from, and how to load it."""

    name: str = "smollm2_135m"
    """The model's name in result records and reports."""
    source: str = "gguf_package"
    """hub (Hub id, HF cache), local (a directory), gguf_package (GGUF file in an installed
    package, dequantized once and cached), package_dir (HF files inside an installed package),
    random (random weights from `config`)."""
    path: str = ""
    """Hub id, local directory, or installed package import name, by source."""
    gguf_file: str | None = None
    """GGUF file name inside the package (source gguf_package)."""
    subdir: str = ""
    """Folder inside the package holding the model files (source package_dir)."""
    config: dict[str, Any] = field(default_factory=dict)
    """transformers config keys for source random; must include model_type."""
    tokenizer: TokenizerSource | None = None
    """Tokenizer source when the weights have none (random); null = same place as the weights."""
    kind: str = "decoder"
    """decoder (causal LM) or encoder (bidirectional, e.g. MiniLM)."""
    dtype: str = "float32"
    """Weight dtype once loaded: float32, bfloat16 or float16."""
    quantization: str | None = None
    """null, or nf4 (4-bit QLoRA-style weights through bitsandbytes; CUDA only)."""
    attn_implementation: str = "sdpa"
    """Attention kernel: sdpa or eager."""

    def __post_init__(self) -> None:
        _one_of("model.source", self.source, SOURCES)
        _one_of("model.kind", self.kind, ("decoder", "encoder"))
        _one_of("model.dtype", self.dtype, DTYPES)
        _one_of("model.quantization", self.quantization, QUANTIZATIONS)
        _one_of("model.attn_implementation", self.attn_implementation, ATTENTION_IMPLEMENTATIONS)
        if isinstance(self.tokenizer, dict):
            self.tokenizer = TokenizerSource(**self.tokenizer)
        if self.source == "random":
            if "model_type" not in self.config:
                raise ValueError("model.config: source 'random' needs config.model_type (e.g. llama, mistral, qwen2)")
            if self.tokenizer is None:
                raise ValueError("model.tokenizer: source 'random' has no tokenizer of its own; name one")
        elif not self.path:
            raise ValueError(f"model.path: required for source '{self.source}'")
        if self.source == "gguf_package" and not self.gguf_file:
            raise ValueError("model.gguf_file: required for source 'gguf_package'")


def _one_of(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{key}: {value!r} is not one of {list(allowed)}")
