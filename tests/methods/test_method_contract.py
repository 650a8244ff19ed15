"""Every method in conf/method/ against the method contract, on every supported decoder family.

For each (method, family): it instantiates from its YAML with the attention its YAML chooses;
applies to a tiny model; forwards with the right shape; trains only the parameters its filter
declares; one optimizer step changes them while frozen ones stay bit-identical; where it declares
itself identity at initialisation the adapted model gives the base model's outputs, and where it
does not, the outputs differ.
"""

from __future__ import annotations

import copy

import pytest
import torch

from harness.methods.trainable import ALL_FORMULATIONS
from tests.tiny_models import FAMILIES, attention_for_method, context, method_files, method_from_yaml, tiny_backbone

METHOD_FILES = method_files()


def _formulation_for(method) -> str:
    return "token_classification" if "token_classification" in method.formulations else method.formulations[0]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method_file", METHOD_FILES, ids=[p.stem for p in METHOD_FILES])
def test_method_contract(method_file, family):
    method = method_from_yaml(method_file)
    attention = attention_for_method(method_file)
    assert method.name == method_file.stem, "one name everywhere: file name == method name"
    assert set(method.formulations) <= set(ALL_FORMULATIONS)
    base, info = tiny_backbone(family)
    formulation = _formulation_for(method)
    method.check(info, formulation)
    attention.check(info, formulation)
    reference = copy.deepcopy(base)
    adapted = method.apply(attention.apply(base, info), context(info, formulation)).eval()

    head = torch.nn.Linear(info.hidden_size, 5)  # the formulation's head always trains
    input_ids = torch.randint(0, 1000, (2, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(input_ids)

    def hidden(model):
        return model(input_ids=input_ids, attention_mask=mask).last_hidden_state

    out = hidden(adapted)
    assert out.shape == (2, 7, info.hidden_size)

    named = dict(adapted.named_parameters())
    for name, parameter in named.items():
        assert parameter.requires_grad == method.is_trainable(name), name
    if not method.stages:  # evaluate-only baselines train nothing at all
        assert not any(p.requires_grad for p in named.values())
        return

    with torch.no_grad():
        if method.identity_at_init and attention.is_causal:
            torch.testing.assert_close(hidden(adapted), hidden(reference), rtol=0, atol=1e-6)
        else:  # a method that claims to change the model must actually change it
            assert not torch.allclose(hidden(adapted), hidden(reference), atol=1e-4)

    frozen_before = {n: p.detach().clone() for n, p in named.items() if not p.requires_grad}
    trainable_before = {n: p.detach().clone() for n, p in named.items() if p.requires_grad}
    adapted.train()
    optimizer = torch.optim.AdamW([p for p in named.values() if p.requires_grad] + list(head.parameters()), lr=1e-2)
    loss = head(hidden(adapted)).logsumexp(-1).mean()
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
