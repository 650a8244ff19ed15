"""Every method in conf/method/ against the method contract, on every supported decoder family.

For each (method, family): it instantiates from its YAML with the attention its YAML chooses;
applies to a tiny model; forwards with the right shape; its outputs keep its promise about
initialisation (see `adapt_and_check_outputs`); trains only the parameters its filter declares;
one optimizer step changes them while frozen ones stay bit-identical.

Most methods in conf/method/ declare themselves identity at initialisation (LoRA's B = 0, full
fine-tuning and the linear probe change nothing until trained); LoFiT's offsets start from
N(0, 1e-3) as in its reference code, so it is not. The converse promise (a method that is not
identity must change the outputs) is also exercised by test methods defined here: LoRA with peft's
random B, one that declares so but whose initialisation silently does nothing, and one that claims
identity but is not. The check must pass the first and fail the other two. A method with several
stages (LoFiT) is applied stage by stage, as `run.py` does; the last stage's model is judged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch

from harness.methods.lora import LoRA
from harness.methods.trainable import ALL_FORMULATIONS
from harness.models.attention_spec import AttentionSpec
from tests.tiny_models import FAMILIES, attention_for_method, context, method_files, method_from_yaml, tiny_backbone

METHOD_FILES = method_files()
INPUT_IDS = torch.randint(0, 1000, (2, 7), generator=torch.Generator().manual_seed(1))

IDENTICAL = 1e-6
"""Largest difference from the unadapted model's hidden states an identity method may show
(float32 rounding of a reordered sum, never a real change)."""
CHANGED = 1e-3
"""Smallest largest difference that counts as a change. Real changes on the tiny models are of
order 1 (hidden states are of order 1 to 5): a random LoRA B, or removing the causal mask in two
of four layers."""


def _formulation_for(method) -> str:
    return "token_classification" if "token_classification" in method.formulations else method.formulations[0]


def _forward(model) -> torch.Tensor:
    return model(input_ids=INPUT_IDS, attention_mask=torch.ones_like(INPUT_IDS)).last_hidden_state


def _hidden(model) -> torch.Tensor:
    with torch.no_grad():
        return _forward(model)


def _largest_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def adapt_and_check_outputs(method, attention, base, info, formulation):
    """Apply attention and method to `base` and check the outputs keep each axis's promise, against
    the base model with the same attention applied (so the method is judged alone):

    - a method that is identity at initialisation gives that model's outputs (within IDENTICAL),
      whatever the attention; training starts from the pretrained model, as the method claims;
    - a method that is not must change them (by more than CHANGED): a patch that silently does
      nothing fails here instead of passing for a method in the results;
    - an attention choice that is not causal must change the plain model's outputs (unmasked layers
      let earlier positions see later tokens).

    Returns the adapted model (in eval mode)."""
    plain = _hidden(copy.deepcopy(base))
    attended = _hidden(attention.apply(copy.deepcopy(base), info).eval())
    adapted = apply_stages(method, attention.apply(base, info), info, formulation).eval()
    difference = _largest_difference(_hidden(adapted), attended)
    if method.identity_at_init:
        assert difference <= IDENTICAL, (
            f"method={method.name} declares identity_at_init, but its adapted model's outputs differ "
            f"from the model it adapted by up to {difference:.3g}"
        )
    else:
        assert difference > CHANGED, (
            f"method={method.name} declares it is not identity at initialisation, but its adapted "
            f"model's outputs differ from the model it adapted by at most {difference:.3g}: its patch does nothing"
        )
    if not attention.is_causal:
        assert _largest_difference(attended, plain) > CHANGED, f"attention={attention.name} left the outputs unchanged"
    return adapted


def apply_stages(method, model, info, formulation):
    """Apply the method once per stage, in order, as `run.py` does (without the training between
    them): the model the last stage trains is the one judged. Evaluate-only methods apply once."""
    for stage in list(method.stages) or ["train"]:
        model = method.apply(model, context(info, formulation, stage=stage))
    return model


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method_file", METHOD_FILES, ids=[p.stem for p in METHOD_FILES])
def test_method_contract(method_file, family):
    method = method_from_yaml(method_file)
    attention = attention_for_method(method_file)
    assert method.name == method_file.stem, "one name everywhere: file name == method name"
    assert set(method.formulations) <= set(ALL_FORMULATIONS) | {"span_generation", "label_generation"}  # opt-in
    base, info = tiny_backbone(family)
    formulation = _formulation_for(method)
    method.check(info, formulation)
    attention.check(info, formulation)
    adapted = adapt_and_check_outputs(method, attention, base, info, formulation)
    assert _hidden(adapted).shape == (2, 7, info.hidden_size)
    head = torch.nn.Linear(info.hidden_size, 5)  # the formulation's head always trains
    named = dict(adapted.named_parameters())
    for name, parameter in named.items():
        assert parameter.requires_grad == method.is_trainable(name), name
    if not method.stages:  # evaluate-only baselines train nothing at all
        assert not any(p.requires_grad for p in named.values())
        return

    frozen_before = {n: p.detach().clone() for n, p in named.items() if not p.requires_grad}
    trainable_before = {n: p.detach().clone() for n, p in named.items() if p.requires_grad}
    adapted.train()
    optimizer = torch.optim.AdamW([p for p in named.values() if p.requires_grad] + list(head.parameters()), lr=1e-2)
    loss = head(_forward(adapted)).logsumexp(-1).mean()
    loss.backward()
    with_grad = {n for n, p in named.items() if p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0}
    optimizer.step()

    for name, before in frozen_before.items():
        assert torch.equal(named[name].detach(), before), f"frozen parameter {name} changed"
    changed = {n for n, before in trainable_before.items() if not torch.equal(named[n].detach(), before)}
    assert with_grad <= changed
    if trainable_before:  # methods that train backbone weights must actually move some of them
        assert changed, "no backbone parameter changed in one optimizer step"


@pytest.mark.parametrize("method_file", METHOD_FILES, ids=[p.stem for p in METHOD_FILES])
def test_unsupported_formulation_fails_before_weights(method_file):
    method = method_from_yaml(method_file)
    _, info = tiny_backbone("tiny_llama")
    with pytest.raises(ValueError, match=f"method={method.name}: formulation 'no_such_objective'"):
        method.check(info, "no_such_objective")


@dataclass
class _RandomInitLoRA(LoRA):
    """LoRA with peft's `init_lora_weights=False` (B drawn like any linear layer, not zero): a real
    method that is not identity at initialisation. `initialise=False` stands for a bug in such a
    method: the initialisation that makes it differ is silently skipped, so it adapts nothing."""

    name: str = "random_init_lora"
    initialise: bool = True
    identity_at_init = False

    def apply(self, backbone, context):
        adapted = super().apply(backbone, context)
        if self.initialise:
            torch.manual_seed(0)
            for name, module in adapted.named_modules():
                if name.endswith("lora_B.default"):
                    module.reset_parameters()
        return adapted


@dataclass
class _ClaimsIdentityButIsNot(_RandomInitLoRA):
    name: str = "claims_identity"
    identity_at_init = True


@pytest.mark.parametrize(
    "method, failure",
    [
        (_RandomInitLoRA(), None),
        (_RandomInitLoRA(initialise=False), "is not identity at initialisation.*its patch does nothing"),
        (_ClaimsIdentityButIsNot(), "declares identity_at_init, but"),
    ],
    ids=["changes_as_declared", "declared_change_does_nothing", "declared_identity_changes"],
)
@pytest.mark.parametrize(
    "attention",
    [AttentionSpec(), AttentionSpec(name="layer_groups", unmasked="groups", group_size=1, pattern="0011")],
    ids=["causal", "unmasked_0011"],
)
def test_output_check_catches_a_method_that_breaks_its_declaration(method, failure, attention):
    """The contract's converse check (a method that is not identity at initialisation must change the outputs)
    is shown to work here: it passes a method that changes the outputs as it declares, and fails
    one whose patch does nothing (declared not identity) and one that changes what it declares it
    keeps. With unmasked layers too: the method is judged against the model with the same
    attention, so the attention's own change neither hides a no-op patch nor fails an identity."""
    base, info = tiny_backbone("tiny_llama")
    if failure is None:
        adapt_and_check_outputs(method, attention, base, info, "token_classification")
    else:
        with pytest.raises(AssertionError, match=failure):
            adapt_and_check_outputs(method, attention, base, info, "token_classification")
