"""LoFiT (harness/methods/lofit.py, harness/models/head_patch.py): the patch computes
(1 + A) * h + v per head and nothing else; each stage trains only its own tensors (and stage 2 only
on the chosen heads); head selection is exact; the L1 term is in the stage-1 loss only; heads are
reused from a file or drawn at random; and the whole thing runs as two stages of one run."""

from __future__ import annotations

import copy
import csv
import json

import pytest
import torch

from harness.methods.lofit import HEADS_FILE, SELECT, TRAIN, Head, LoFiT, read_heads, top_k_heads
from harness.models import head_patch
from harness.models.attention import decoder_layers
from harness.run import run
from tests.composing import compose_config, quick_overrides
from tests.tiny_models import FAMILIES, context, tiny_backbone

INPUT_IDS = torch.randint(0, 1000, (2, 7), generator=torch.Generator().manual_seed(1))


def _hidden(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT_IDS, attention_mask=torch.ones_like(INPUT_IDS)).last_hidden_state


def _o_proj_inputs(model) -> dict[int, torch.Tensor]:
    """Each layer's output-projection input (the concatenated heads) as the projection receives it."""
    seen, handles = {}, []
    for number, layer in enumerate(decoder_layers(model)):
        handles.append(layer.self_attn.o_proj.register_forward_hook(
            lambda module, args, output, number=number: seen.__setitem__(number, args[0].detach().clone())
        ))  # fmt: skip
    _hidden(model)
    for handle in handles:
        handle.remove()
    return seen


@pytest.mark.parametrize("family", FAMILIES)
def test_unit_scalings_and_zero_offsets_leave_the_model_unchanged(family):
    base, info = tiny_backbone(family)
    patched = copy.deepcopy(base)
    head_patch.install(patched, info.num_heads, info.head_dim, True, {0: [1], 3: [0, 2]}, init_std=0.0)
    assert torch.equal(_hidden(patched), _hidden(base))
    head_patch.remove(patched)
    assert not head_patch.patches(patched)


@pytest.mark.parametrize("family", FAMILIES)
def test_patch_is_one_plus_a_times_h_plus_v_head_by_head(family):
    base, info = tiny_backbone(family)
    d = info.head_dim
    patched = copy.deepcopy(base)
    head_patch.install(patched, info.num_heads, info.head_dim, True, {1: [0, 2]}, init_std=0.0)
    patch = head_patch.patches(patched)[1]
    scale = torch.randn(info.num_heads, d, generator=torch.Generator().manual_seed(2))
    offset = torch.randn(2, d, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        patch.scale.copy_(scale)
        patch.offset.copy_(offset)
    before, after = _o_proj_inputs(base), _o_proj_inputs(patched)
    assert torch.equal(after[0], before[0])  # layer 0 patched with A = 0, v absent: untouched
    h = before[1].view(2, 7, info.num_heads, d)
    expected = h * (1 + scale)
    expected[..., 0, :] += offset[0]
    expected[..., 2, :] += offset[1]
    torch.testing.assert_close(after[1].view(2, 7, info.num_heads, d), expected, rtol=0, atol=1e-6)


def test_top_k_is_exact_on_a_hand_made_table_with_ties():
    scores = [[0.1, 0.9, 0.3], [0.9, 0.2, 0.5], [0.0, 0.5, 0.8]]
    assert top_k_heads(scores, 4) == [Head(0, 1, 0.9), Head(1, 0, 0.9), Head(2, 2, 0.8), Head(1, 2, 0.5)]
    assert [(h.layer, h.head) for h in top_k_heads(scores, 5)][-1] == (2, 1)  # 0.5 tie: layer order
    assert len(top_k_heads(scores, 9)) == 9


def test_head_count_as_count_fraction_or_default():
    _, info = tiny_backbone("tiny_llama")  # 4 layers x 4 heads
    assert LoFiT(heads=3).head_count(info) == 3
    assert LoFiT(heads=0.25).head_count(info) == 4
    assert LoFiT().head_count(info) == 2  # 10% of 16, rounded
    with pytest.raises(ValueError, match="method.heads: 17 heads asked"):
        LoFiT(heads=17).head_count(info)
    for bad in (0, 1.5, -2):
        with pytest.raises(ValueError, match="method.heads"):
            LoFiT(heads=bad)
    with pytest.raises(ValueError, match="method.heads_from and method.random_heads"):
        LoFiT(heads_from="x", random_heads=True)


def _step(model, method, extra=()) -> None:
    """One AdamW step on a loss from the hidden states plus the method's loss term."""
    parameters = [p for p in model.parameters() if p.requires_grad] + list(extra)
    optimizer = torch.optim.AdamW(parameters, lr=1e-2)
    model.train()
    loss = _loss(model)
    term = method.loss_term(model)
    if term is not None:
        loss = loss + term
    loss.backward()
    optimizer.step()
    model.eval()


def _loss(model) -> torch.Tensor:
    return model(input_ids=INPUT_IDS, attention_mask=torch.ones_like(INPUT_IDS)).last_hidden_state.pow(2).mean()


@pytest.mark.parametrize("family", FAMILIES)
def test_each_stage_trains_only_its_tensors_and_stage_two_only_the_chosen_heads(family, tmp_path):
    model, info = tiny_backbone(family)
    base = copy.deepcopy(model)
    method = LoFiT(heads=3, l1_lambda=1e-2)

    # Stage 1: only the scalings A move; the L1 term is lambda * sum |A|.
    model = method.apply(model, context(info, stage=SELECT, artefact_dir=tmp_path))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {f"layers.{i}.self_attn.lofit.scale" for i in range(info.num_layers)}
    scales = [p.scale for p in head_patch.patches(model).values()]
    expected_term = 1e-2 * sum(float(s.detach().abs().sum()) for s in scales)
    assert float(method.loss_term(model).detach()) == pytest.approx(expected_term, rel=1e-6)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _step(model, method)
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]) != (name in names), name

    # Hand-made scalings: the three largest norms are layer 2 head 1, layer 0 head 3, layer 3 head 0.
    with torch.no_grad():
        for number, patch in head_patch.patches(model).items():
            patch.scale.fill_(0.01)
        head_patch.patches(model)[2].scale[1].fill_(0.5)
        head_patch.patches(model)[0].scale[3].fill_(0.4)
        head_patch.patches(model)[3].scale[0].fill_(0.3)

    # Stage 2: A is gone, offsets exist for the chosen heads only, and only they move.
    model = method.apply(model, context(info, stage=TRAIN, artefact_dir=tmp_path))
    written = json.loads((tmp_path / HEADS_FILE).read_text())
    assert [(h["layer"], h["head"]) for h in written["heads"]] == [(2, 1), (0, 3), (3, 0)]
    assert written["selection"] == "learned" and len(written["scores"]) == info.num_layers
    patches = head_patch.patches(model)
    assert {n: p.offset_heads.tolist() for n, p in patches.items()} == {0: [3], 2: [1], 3: [0]}
    assert all(p.scale is None for p in patches.values())
    assert method.loss_term(model) is None  # no penalty in stage 2
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {f"layers.{i}.self_attn.lofit.offset" for i in (0, 2, 3)}
    assert sum(p.numel() for n, p in model.named_parameters() if n in names) == 3 * info.head_dim
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _step(model, method)
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]) != (name in names), name
    for name, parameter in base.named_parameters():  # the backbone's own weights never moved
        assert torch.equal(dict(model.named_parameters())[name], parameter), name

    # Only the chosen heads' outputs change: in layer 0 (the first patched), head 3 alone differs.
    split = lambda x: x.view(2, 7, info.num_heads, info.head_dim)  # noqa: E731
    original, adapted = split(_o_proj_inputs(base)[0]), split(_o_proj_inputs(model)[0])
    differs = [(original[..., j, :] != adapted[..., j, :]).any().item() for j in range(info.num_heads)]
    assert differs == [False, False, False, True]


def _heads_file(path, heads, shape=(4, 4)):
    payload = {"selection": "learned", "num_layers": shape[0], "num_heads": shape[1], "k": len(heads),
               "heads": [{"rank": r, "layer": l, "head": h, "score": 1.0 - r / 10} for r, (l, h) in enumerate(heads)]}  # fmt: skip
    path.write_text(json.dumps(payload))
    return path


def test_heads_from_a_file_trains_exactly_its_top_heads(tmp_path):
    model, info = tiny_backbone("tiny_mistral")
    source = _heads_file(tmp_path / "heads.json", [(3, 2), (1, 0), (0, 0), (2, 3)])
    method = LoFiT(heads=3, heads_from=str(source))
    assert method.stages == (TRAIN,)
    method.check(info, "generation")
    model = method.apply(model, context(info, stage=TRAIN, artefact_dir=tmp_path / "run"))
    assert {n: p.offset_heads.tolist() for n, p in head_patch.patches(model).items()} == {0: [0], 1: [0], 3: [2]}
    written = json.loads((tmp_path / "run" / HEADS_FILE).read_text())
    assert written["selection"] == f"from {source}"
    assert [(h["layer"], h["head"]) for h in written["heads"]] == [(3, 2), (1, 0), (0, 0)]


def test_heads_from_refuses_a_missing_file_another_shape_or_too_few_heads(tmp_path):
    _, info = tiny_backbone("tiny_llama")
    with pytest.raises(ValueError, match="method.heads_from: .*does not exist"):
        LoFiT(heads_from=str(tmp_path / "none")).check(info, "generation")
    other = _heads_file(tmp_path / "other.json", [(0, 0)], shape=(30, 9))
    with pytest.raises(ValueError, match="30 layers x 9 heads; model tiny_llama has 4 x 4"):
        LoFiT(heads=1, heads_from=str(other)).check(info, "generation")
    few = _heads_file(tmp_path / "few.json", [(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="method.heads: 3 heads asked, .* holds 2"):
        LoFiT(heads=3, heads_from=str(few)).check(info, "generation")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a LoFiT heads file"):
        read_heads(tmp_path / "bad.json")


def test_random_heads_are_k_distinct_heads_fixed_by_the_seed(tmp_path):
    chosen = []
    for seed in (1, 1, 2):
        model, info = tiny_backbone("tiny_qwen2")
        torch.manual_seed(seed)
        method = LoFiT(heads=5, random_heads=True)
        assert method.stages == (TRAIN,)
        method.apply(model, context(info, stage=TRAIN, artefact_dir=tmp_path))
        heads = [(h["layer"], h["head"]) for h in json.loads((tmp_path / HEADS_FILE).read_text())["heads"]]
        assert len(set(heads)) == 5
        chosen.append(heads)
    assert chosen[0] == chosen[1] != chosen[2]


def test_two_stage_run_selects_heads_logs_l1_only_in_stage_one_and_heads_transfer(tmp_path, data_root):
    common = [*quick_overrides(tmp_path, train=16, evaluate=8), f"paths.data_dir={data_root}", "task=clutrr",
              "method=lofit", "method.heads=3", "trainer.log_every_n_steps=1"]  # fmt: skip
    result = run(compose_config(common))
    assert result.status == "completed", result.error and result.error["traceback"]
    assert [s["name"] for s in result.stages] == [SELECT, TRAIN]
    assert result.artefacts == [f"artefacts/{HEADS_FILE}"]
    out = tmp_path / "results" / "default" / result.run_id
    heads = json.loads((out / "artefacts" / HEADS_FILE).read_text())
    assert heads["k"] == 3 and heads["selection"] == "learned"
    flat = sorted(((s, l, h) for l, row in enumerate(heads["scores"]) for h, s in enumerate(row)), key=lambda x: (-x[0], x[1], x[2]))
    assert [(h["layer"], h["head"]) for h in heads["heads"]] == [(l, h) for _, l, h in flat[:3]]
    _, info = tiny_backbone("tiny_llama")
    assert result.cost.trainable_params == 3 * info.head_dim  # generation trains no head of its own

    # The L1 term is logged in stage 1's steps and absent from stage 2's.
    with open(tmp_path / "outputs" / "default" / result.run_id / "csv" / "version_0" / "metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("train/loss")]
    with_term = [bool(r.get("train/loss_term")) for r in rows]
    assert with_term[0] and not with_term[-1] and with_term == sorted(with_term, reverse=True)

    # Another run reuses the heads (another seed, the same heads, one stage).
    reused = run(compose_config([*common, f"method.heads_from={out}", "seed=7"]))
    assert reused.status == "completed", reused.error and reused.error["traceback"]
    assert [s["name"] for s in reused.stages] == [TRAIN]
    again = json.loads((tmp_path / "results" / "default" / reused.run_id / "artefacts" / HEADS_FILE).read_text())
    assert [(h["layer"], h["head"]) for h in again["heads"]] == [(h["layer"], h["head"]) for h in heads["heads"]]


@pytest.mark.parametrize("experiment", ["truthfulqa_smollm2", "clutrr_smollm2"])
def test_the_lofit_sweep_configurations_compose_for_smollm2(experiment):
    """sweeps/lofit_smollm2.sh's runs: LoFiT with K = 16 and 32 of SmolLM2's 270 heads, the ablation,
    and the baselines beside it."""
    from harness.config import instantiate_group
    from harness.models.info import ModelInfo

    smollm2 = ModelInfo("smollm2_135m", "llama", "decoder", 30, 9, 3, 576, 64, 49152)
    for extra in (["method.heads=16"], ["method.heads=32"], ["method.heads=16", "method.random_heads=true"]):
        cfg = compose_config([f"+experiment={experiment}", "method=lofit", *extra])
        method = instantiate_group(cfg.method, "method")
        formulation = instantiate_group(cfg.formulation, "formulation")
        method.check(smollm2, formulation.name)
        assert method.head_count(smollm2) == int(extra[0].split("=")[1])
        assert len(method.stages) == (1 if method.random_heads else 2)
    for baseline in (["method=lora"], ["method=zero_shot"], ["method=prompt_tuning"], ["method=icl", "method.k=4"]):
        cfg = compose_config([f"+experiment={experiment}", *baseline])
        method = instantiate_group(cfg.method, "method")
        method.check(smollm2, instantiate_group(cfg.formulation, "formulation").name)
