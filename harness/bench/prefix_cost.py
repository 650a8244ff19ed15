"""Prefix cost: a training step's time and peak memory against the prefix length m, for prefix
tuning (m trained keys and values per layer, peft's ``PrefixTuningConfig`` through
`harness.methods.prefix_tuning`), NTK-attention (`harness.methods.ntk_prefix`: an infinitely
long prefix held in Z and k per KV head, whose cost has no m) and the unadapted model.

A step is what training does per batch: forward on a fixed batch of random token ids, a
token-classification head and cross-entropy, backward, AdamW step, gradients cleared. Every model
backpropagates through all its layers: the adapted ones down to their layer-0 parameters, the
unadapted one down to its input embeddings (its head alone trains). All models are built first;
then every round runs two steps of each, in an order that rotates from round to round so that
drift hits every model alike, and times the second; the first rounds warm up and are not counted;
the figure is the median. The untimed step first matters on a CPU: a step that follows another
model's pays for that model's memory pattern (glibc returns freed memory to the system, and the
next step faults it back in: about 150,000 page faults, +0.3-0.9 s, for an NTK-attention step run
right after prefix tuning at m = 1024 on SmolLM2-135M), so without it the ratios depended on the
order. Since each round times every model, each round also gives paired ratios (NTK-attention
over unadapted, longest prefix over NTK-attention); their range is reported beside the targets, to
show how far the noise of a single round reaches.

Peak memory of a step: the largest total of tensors the step has allocated and not yet freed
(activations, gradients, temporaries), above what the model holds at rest (weights, trained
parameters, optimizer state; reported beside it). On a GPU it is torch.cuda.max_memory_allocated
over the step minus the memory allocated before it; on a CPU it is counted by a dispatch mode that
adds each new tensor storage and subtracts it when it is freed (a separate, untimed step).

Targets: NTK-attention's step at most 1.2x the unadapted model's; prefix tuning's at m = 1024 at
least 2x NTK-attention's.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from harness.bench.common import adapt, backbone_from_conf, header, median_ms, method_from_conf, timed_call, write_report
from harness.formulations.lifecycle import position_ids_from_mask
from harness.methods.trainable import count_parameters

NUM_LABELS = 9
MIB = 2**20
STEP_TARGET, PREFIX_TARGET = 1.2, 2.0


@dataclass
class _Side:
    """One model under test, its head and optimizer, and what was measured."""

    name: str
    m: int | None  # prefix length; None for NTK-attention and the unadapted model
    model: nn.Module
    head: nn.Linear
    optimizer: torch.optim.Optimizer
    trainable: int
    seconds: list[float] = field(default_factory=list)
    step_bytes: int = 0

    def step(self, batch: dict) -> None:
        hidden = self.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]
        ).last_hidden_state
        loss = nn.functional.cross_entropy(self.head(hidden).flatten(0, 1), batch["labels"].flatten())
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def resting_bytes(self) -> int:
        """Weights, buffers, trained parameters and optimizer state."""
        tensors = [*self.model.parameters(), *self.model.buffers(), *self.head.parameters()]
        tensors += [t for state in self.optimizer.state.values() for t in state.values() if isinstance(t, torch.Tensor)]
        return sum(t.numel() * t.element_size() for t in {id(t): t for t in tensors}.values())


class LiveTensorPeak(TorchDispatchMode):
    """Peak bytes of tensor storage allocated inside the context and alive at once: the CPU's
    counterpart of torch.cuda.max_memory_allocated, counting only storages made inside."""

    def __init__(self) -> None:
        super().__init__()
        self.current = self.peak = 0
        self._live: dict[int, tuple[weakref.ref, int]] = {}
        self._outside: set[int] = set()

    def ignore(self, tensors) -> "LiveTensorPeak":
        """Storages that exist already (weights, optimizer state, the batch): never counted."""
        self._outside |= {t.untyped_storage().data_ptr() for t in tensors}
        return self

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor):
                self._track(value.untyped_storage())
        return out

    def _track(self, storage) -> None:
        pointer = storage.data_ptr()
        if pointer == 0 or pointer in self._outside or pointer in self._live:
            return  # empty, made before, or a view / in-place result of a storage already counted
        size = storage.nbytes()
        self._live[pointer] = (weakref.ref(storage, functools.partial(self._freed, pointer)), size)
        self.current += size
        self.peak = max(self.peak, self.current)

    def _freed(self, pointer: int, _reference) -> None:
        entry = self._live.pop(pointer, None)
        if entry is not None:
            self.current -= entry[1]


def _batch(batch_size: int, length: int, vocab: int, device: torch.device) -> dict:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, vocab - 1, (batch_size, length), generator=generator)
    mask = torch.ones_like(ids)
    labels = torch.randint(0, NUM_LABELS, (batch_size, length), generator=generator)
    batch = {"input_ids": ids, "attention_mask": mask, "position_ids": position_ids_from_mask(mask), "labels": labels}
    return {key: value.to(device) for key, value in batch.items()}


def _side(name: str, m: int | None, backbone, method, device: torch.device) -> _Side:
    torch.manual_seed(0)
    copied = dataclasses.replace(backbone, model=copy.deepcopy(backbone.model))
    if method is None:
        model = copied.model
        model.requires_grad_(False)
        model.enable_input_require_grads()  # backward runs through every layer, as for the adapted models
    else:
        model = adapt(copied, method)
    model = model.to(device).train()
    head = nn.Linear(backbone.info.hidden_size, NUM_LABELS).to(device)
    trained = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(trained, lr=method.lr if method is not None else 1e-3, weight_decay=0.0)
    return _Side(name, m, model, head, optimizer, count_parameters(model)[0])


def _measure_memory(side: _Side, batch: dict, device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        side.step(batch)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    resting = [*side.model.parameters(), *side.model.buffers(), *side.head.parameters(), *batch.values()]
    resting += [t for state in side.optimizer.state.values() for t in state.values() if isinstance(t, torch.Tensor)]
    with LiveTensorPeak().ignore(resting) as counter:
        side.step(batch)
    return counter.peak


def _plot(sides: list[_Side], stem: Path, title: str) -> list[Path]:
    from matplotlib.figure import Figure

    prefix = sorted((s for s in sides if s.m is not None), key=lambda s: s.m)
    flat = [s for s in sides if s.m is None]
    lengths = [s.m for s in prefix]
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, value, label in (
        (axes[0], lambda s: median_ms(s.seconds), "training step (ms, median)"),
        (axes[1], lambda s: s.step_bytes / MIB, "peak step memory (MiB above the model at rest)"),
    ):
        ax.plot(lengths, [value(s) for s in prefix], marker="o", label="prefix tuning (peft)")
        for s in flat:
            ntk = s.name.startswith("NTK")
            ax.axhline(value(s), linestyle="-" if ntk else "--", color="C1" if ntk else "0.4", label=s.name)
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [str(m) for m in lengths])
        ax.set_xlabel("prefix length m (virtual tokens)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    figure.suptitle(title, fontsize="medium")
    written = []
    for extension in ("png", "svg"):
        path = stem.with_suffix(f".{extension}")
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"Date": None} if extension == "svg" else {"Software": None}
        figure.savefig(path, format=extension, dpi=150, metadata=metadata)
        written.append(path)
    return written


def _ratio_range(numerator: list[float], denominator: list[float]) -> str:
    """The spread of one model's step time over another's, paired round by round."""
    ratios = sorted(n / d for n, d in zip(numerator, denominator, strict=True))
    return f"{ratios[0]:.2f}-{ratios[-1]:.2f}x ({len(ratios)} rounds)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench prefix_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--lengths", default="16,64,256,1024", help="prefix lengths m for prefix tuning, comma-separated")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=128, help="tokens per sequence")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (two steps of every model each, the second timed)")
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted")
    parser.add_argument("--out", default=None, help="also write the report here, and the plot beside it (.png, .svg)")
    args = parser.parse_args(argv)
    lengths = sorted({int(m) for m in args.lengths.split(",")})
    if args.rounds < 1 or min(lengths) < 1:
        parser.error("--rounds and every prefix length must be at least 1")

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backbone = backbone_from_conf(args.model)
    sides = [
        _side("unadapted", None, backbone, None, device),
        _side("NTK-attention", None, backbone, method_from_conf("ntk_prefix"), device),
        *[_side(f"prefix tuning m={m}", m, backbone, method_from_conf("prefix_tuning", num_virtual_tokens=m), device) for m in lengths],
    ]  # fmt: skip
    batch = _batch(args.batch_size, args.length, backbone.info.vocab_size, device)
    for number in range(args.warmup + args.rounds):
        for side in sides[number % len(sides) :] + sides[: number % len(sides)]:
            side.step(batch)  # settles the allocator to this model's own pattern (see the docstring)
            _, seconds = timed_call(side.step, batch)
            if number >= args.warmup:
                side.seconds.append(seconds)
    for side in sides:  # after the warm-up, so that the optimizer state is part of the model at rest
        side.step_bytes = _measure_memory(side, batch, device)

    plain, ntk = sides[0], sides[1]
    longest = sides[-1]
    step_ratio = median_ms(ntk.seconds) / median_ms(plain.seconds)
    prefix_ratio = median_ms(longest.seconds) / median_ms(ntk.seconds)
    step_range = _ratio_range(ntk.seconds, plain.seconds)
    prefix_range = _ratio_range(longest.seconds, ntk.seconds)
    info = backbone.info
    memory_kind = "torch.cuda.max_memory_allocated" if device.type == "cuda" else "live tensor storage (dispatch mode)"

    def row(side: _Side) -> str:
        ms = median_ms(side.seconds)
        return (
            f"| {side.name} | {side.trainable:,} | {ms:.1f} | {ms / median_ms(plain.seconds):.2f} | "
            f"{ms / median_ms(ntk.seconds):.2f} | {side.step_bytes / MIB:.1f} | {side.resting_bytes() / MIB:.1f} |"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines = [
        header("prefix_cost"),
        f"- model: {args.model} ({info.num_layers} layers, {info.num_heads} query heads, {info.num_kv_heads} KV heads, head_dim {info.head_dim})",
        f"- step: batch {args.batch_size} x {args.length} tokens, token-classification head ({NUM_LABELS} labels), forward + backward + AdamW step",
        f"- {args.rounds} rounds after {args.warmup} warm-up round(s), order rotating per round, each model's timed step after an untimed one of its own; time = median per model",
        f"- peak memory: {memory_kind}, over one step, above the model at rest",
        "",
        "| model | trainable parameters | step ms | x unadapted | x NTK | peak step MiB | at rest MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[row(side) for side in sides],
        "",
        "## Targets",
        "",
        f"- NTK-attention step / unadapted step = {step_ratio:.2f}x (target: at most {STEP_TARGET}x): {verdict(step_ratio <= STEP_TARGET)}; "
        f"per round {step_range}",
        f"- prefix tuning step at m = {longest.m} / NTK-attention step = {prefix_ratio:.2f}x "
        f"(target at m = 1024: at least {PREFIX_TARGET}x): {verdict(prefix_ratio >= PREFIX_TARGET)}"
        + ("" if longest.m == 1024 else f" (measured at m = {longest.m}, not 1024)")
        + f"; per round {prefix_range}",
        "",
        f"NTK-attention trains num_layers x num_kv_heads x (head_dim^2 + head_dim) = {ntk.trainable:,} parameters "
        "for any prefix length; prefix tuning trains 2 x num_layers x m x (num_kv_heads x head_dim).",
        "",
    ]  # fmt: skip
    if args.out:
        title = f"{args.model}: batch {args.batch_size} x {args.length}, {device.type}"
        plots = _plot(sides, Path(args.out).with_suffix(""), title)
        lines += [f"Plot: {', '.join(p.name for p in plots)}", ""]
    write_report("prefix_cost", "\n".join(lines), args.out)
    return 0
