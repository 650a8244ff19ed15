"""NTK-attention prefix (Liang et al. 2024, "Toward Infinite-Long Prefix in Transformer",
arXiv 2406.14036): the limit of prefix tuning as the prefix grows without bound, trained as
Z in R^(d x d) and k in R^d per KV head and layer, the backbone frozen.

For query i, with s_ij = q_i . k_j / sqrt(d) over the keys j the mask allows, m_i their maximum
and phi(x) = ELU(x / d^(1/4)) + 1:

    out_i = [ sum_j exp(s_ij - m_i) v_j + phi(q_i)^T Z exp(-m_i) ]
          / [ sum_j exp(s_ij - m_i)     + phi(q_i)^T |k| exp(-m_i) ]

Z and k stand for sum_p phi(k_p) v_p^T and sum_p phi(k_p) over a prefix; |k| is the elementwise
absolute value, as the issue and the paper's code write it. The attention function, its mask,
the grouped-query choice (Z, k per KV head) and the numerics are `harness.models.ntk_attention`.
Parameters: num_layers x num_key_value_heads x (d^2 + d) (`parameter_count`), for any prefix length.

Initialisation: ``zeros`` (the default) makes the prefix term vanish, so the adapted model is the
base model exactly (``identity_at_init``) and training starts from the pretrained model, as for
LoRA; both Z and k still receive gradients (|k| is given the right derivative at 0). ``normal``
draws both from N(0, init_std), the paper's ChatGLM code's choice with init_std = 1e-4 (its ViT
code starts from zeros). The default learning rate is the reference code's 1e-3.

Every formulation works: the prefix term is computed per query inside the attention function,
so it is added at every decoding step with a KV cache (generation, multiple-choice scoring with a
shared context), and so does the attention axis: unmasked layers give the prefix's attention
function their padding-only mask. Written by hand: no library has NTK-attention.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from harness.methods.context import MethodContext
from harness.methods.trainable import ALL_FORMULATIONS, check_formulation, freeze_except
from harness.models import ntk_attention
from harness.models.attention import SUPPORTED_FAMILIES, AttentionControlError
from harness.models.info import ModelInfo


def parameter_count(info: ModelInfo) -> int:
    """Trainable parameters: a d x d matrix Z and a vector k per KV head in every layer."""
    return info.num_layers * info.num_kv_heads * (info.head_dim**2 + info.head_dim)


@dataclass
class NTKPrefix:
    """An infinitely long prefix per layer, approximated by Z and k per KV head (NTK-attention)."""

    name: str = "ntk_prefix"
    """Method name in records."""
    init: str = "zeros"
    """zeros (identity at initialisation) or normal (Z, k ~ N(0, init_std))."""
    init_std: float = 1e-4
    """Standard deviation of the normal initialisation (the reference ChatGLM code's 1e-4)."""
    lr: float = 1e-3
    """Learning rate (the reference code's)."""

    formulations = ALL_FORMULATIONS
    stages = ("train",)

    def __post_init__(self) -> None:
        if self.init not in ntk_attention.INITS:
            raise ValueError(f"method.init: {self.init!r} is not one of {list(ntk_attention.INITS)}")
        if self.init_std < 0:
            raise ValueError(f"method.init_std: must be >= 0, got {self.init_std}")

    @property
    def identity_at_init(self) -> bool:
        return self.init == "zeros" or self.init_std == 0

    def check(self, info: ModelInfo, formulation: str) -> None:
        check_formulation(self.name, formulation, self.formulations)
        if info.kind != "decoder" or info.family not in SUPPORTED_FAMILIES:
            raise ValueError(
                f"method={self.name}: model {info.name} ({info.kind}, family '{info.family}') is not supported; "
                f"NTK-attention is installed in the decoder families {list(SUPPORTED_FAMILIES)}"
            )

    def apply(self, backbone: nn.Module, context: MethodContext) -> nn.Module:
        try:
            ntk_attention.install(backbone, self.init, self.init_std)
        except AttentionControlError as error:
            raise ValueError(f"method={self.name}: {error}") from None
        return freeze_except(backbone, self.is_trainable)

    def is_trainable(self, parameter_name: str) -> bool:
        return parameter_name.endswith((f"{ntk_attention.PATCH_NAME}.z", f"{ntk_attention.PATCH_NAME}.k"))
