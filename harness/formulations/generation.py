"""Generation: the model writes the answer after a prompt (CLUTRR's relation, MQuAKE's entity).

Training is next-token prediction on prompt + response with the loss on the response tokens only
(``loss_on: response``, the usual supervised fine-tuning objective) or on every real token
(``all``). Evaluation generates greedily in batches with left padding and the KV cache, and
position ids counted over real tokens, so neither the padding side nor the batch an example lands
in changes what it generates. Methods and tasks may constrain decoding through transformers'
logits processors: a method's or a task's optional ``logits_processors(tokenizer)`` (both, method
first) are passed to ``generate``.
Answers are cut at the first line break and scored by normalised exact match against the target
and its aliases. A method's in-context demonstrations (its optional ``demonstrations``) precede
every prompt, in training and evaluation alike (`harness.formulations.demonstrations`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn
from transformers import LogitsProcessorList

from harness.formulations.demonstrations import DemonstratedPrompts, PromptResponse
from harness.formulations.lifecycle import FormulationModule, position_ids_from_mask
from harness.formulations.prompting import LOSS_ON, PromptFormat, response_ids, training_item, truncate_prompt


@dataclass
class Generation:
    """Prompt in, answer generated; loss on the response (or all tokens); exact match."""

    name: str = "generation"
    """Formulation name in records."""
    prompt: PromptFormat = field(default_factory=PromptFormat)
    """Instruction, chat template on/off, text between prompt and response."""
    loss_on: str = "response"
    """response: loss on the response tokens only; all: on every real token."""
    max_new_tokens: int = 16
    """Generation budget per answer."""
    stop_at_newline: bool = True
    """Cut the generated answer at its first line break."""

    head = "lm"
    task_kinds = ("generation",)

    def __post_init__(self) -> None:
        if isinstance(self.prompt, dict):
            self.prompt = PromptFormat(**self.prompt)
        if self.loss_on not in LOSS_ON:
            raise ValueError(f"formulation.loss_on: {self.loss_on!r} is not one of {list(LOSS_ON)}")
        if self.max_new_tokens < 1:
            raise ValueError(f"formulation.max_new_tokens: must be >= 1, got {self.max_new_tokens}")

    def build(self, task, task_data, backbone, method, trainer_cfg, seed: int, cache_dir):
        return build_generation(self, task, task_data, backbone, method, trainer_cfg, seed)


def causal_lm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the positions whose label is not ignored.

    The model is asked for logits from the first position that predicts a scored token on
    (``logits_to_keep``): prompt positions before it are never scored, and their vocabulary
    projection (a (B, T, V) tensor, 49,152 columns for SmolLM2) is the largest activation of a
    training step when the loss is on a response at the end of a long prompt (SIFT's ``src``).
    """
    targets = batch["labels"][:, 1:]  # position t predicts token t + 1
    keep = targets != -100
    scored = keep.any(dim=0).nonzero()
    first = int(scored[0]) if len(scored) else 0  # earliest position whose prediction is scored
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=position_ids_from_mask(batch["attention_mask"]),
        logits_to_keep=batch["input_ids"].shape[1] - first,  # positions first .. T - 1
    ).logits  # (B, T - first, V)
    return nn.functional.cross_entropy(logits[:, :-1][keep[:, first:]].float(), targets[:, first:][keep[:, first:]])


@torch.no_grad()
def generate_batch(
    model: nn.Module, tokenizer, prompts: list[list[int]], max_new_tokens: int, logits_processors=None,
    stop_token_ids: Sequence[int] = (), share_prefix: bool = False,
) -> list[list[int]]:  # fmt: skip
    """Greedy continuations of token-id prompts, batched with left padding and the KV cache.

    ``stop_token_ids`` end a row as EOS does, but are kept in its output (a newline token whose text
    before the line break is still answer). ``share_prefix``: the tokens every prompt of the batch
    begins with (an instruction, fixed demonstrations) are encoded once, as one row, and that key/value
    cache is repeated for every row; the padding then sits between the shared prefix and each row's
    rest, masked, with positions counted over real tokens, so each row generates what it would alone.
    Not where a sliding attention window could reach the padding (it counts cache slots, padded or
    not): those batches are padded on the left as usual.
    """
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    share = share_prefix and len(prompts) > 1 and _window_spans(model, width + max_new_tokens)
    shared = shared_prefix_length(prompts) if share else 0
    input_ids = torch.tensor([list(p[:shared]) + [pad] * (width - len(p)) + list(p[shared:]) for p in prompts])
    attention_mask = torch.tensor([[1] * shared + [0] * (width - len(p)) + [1] * (len(p) - shared) for p in prompts])
    cache = {}
    if shared:
        prefix = torch.tensor([list(prompts[0][:shared])], device=model.device)  # (1, P)
        cache["cache"] = model(input_ids=prefix, use_cache=True).cache
        cache["cache"].batch_repeat_interleave(len(prompts))  # (B, H, P, D) per layer
    stops = [tokenizer.eos_token_id, *stop_token_ids] if stop_token_ids else tokenizer.eos_token_id
    output = model.generate(
        input_ids=input_ids.to(model.device),
        attention_mask=attention_mask.to(model.device),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        use_cache=True,
        pad_token_id=pad,
        eos_token_id=stops,
        logits_processor=LogitsProcessorList(logits_processors or []),
        temperature=None,
        top_p=None,
        top_k=None,
        **cache,
    )
    new = output[:, width:].tolist()
    result = []
    stop_set = set(stop_token_ids)
    for tokens in new:
        if tokenizer.eos_token_id in tokens:
            tokens = tokens[: tokens.index(tokenizer.eos_token_id)]
        if stop_set:
            tokens = next((tokens[: i + 1] for i, t in enumerate(tokens) if t in stop_set), tokens)
        result.append([t for t in tokens if t != pad])
    return result


def _window_spans(model: nn.Module, length: int) -> bool:
    """Whether every layer of the model attends to at least ``length`` cache slots (no sliding window
    shorter than that: Mistral's, or Qwen2's where it is switched on)."""
    config = model.config
    window = getattr(config, "sliding_window", None)
    if window is None or getattr(config, "use_sliding_window", True) is False:
        return True
    return window >= length


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all prompts share, leaving each at least its last token to encode
    (the logits of a row's last prompt token choose its first answer token)."""
    limit = min(len(p) for p in prompts) - 1
    first = prompts[0]
    length = 0
    while length < limit and all(p[length] == first[length] for p in prompts):
        length += 1
    return length


class Generator(FormulationModule):
    def __init__(
        self, backbone, tokenizer, spec: Generation, metric, metric_name: str, method, examples, task=None,
        weight_decay: float = 0.0, warmup_ratio: float = 0.1,
    ) -> None:  # fmt: skip
        super().__init__(backbone, method, metric_name, examples, None, weight_decay, warmup_ratio)
        self.tokenizer, self.spec, self.metric, self.task = tokenizer, spec, metric, task

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return causal_lm_loss(self.backbone, batch)

    def answer_text(self, tokens: list[int]) -> str:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if self.spec.stop_at_newline:
            text = text.split("\n", 1)[0]
        return text.strip()

    def predict(self, batch: dict[str, Any]) -> list[tuple[int, Any, Any]]:
        processors = [
            processor
            for source in (self.method, self.task)
            if (factory := getattr(source, "logits_processors", None)) is not None
            for processor in factory(self.tokenizer)
        ]
        outputs = generate_batch(self.backbone, self.tokenizer, batch["prompt_ids"], self.spec.max_new_tokens, processors)
        self.generated_in_last_batch = sum(len(o) for o in outputs)
        return [(index, self.answer_text(tokens), len(tokens)) for index, tokens in zip(batch["index"].tolist(), outputs)]

    def _references(self, split: str, index: int) -> list[str]:
        example = self.examples[split][index]
        return [example.target, *example.aliases]

    def score(self, split: str, predictions: dict[int, tuple[Any, Any]]) -> dict[str, Any]:
        indices = sorted(predictions)
        return self.metric.compute(
            predictions=[predictions[i][0] for i in indices], references=[self._references(split, i) for i in indices]
        )

    def nothing_predicted(self, scores: dict[str, Any]) -> str | None:
        if scores.get("num_examples") and scores.get("num_empty_predictions") == scores["num_examples"]:
            return "every dev answer is empty after normalisation: the model generates no answer"
        return None

    def row(self, split: str, index: int, prediction: Any, score: Any) -> dict[str, Any]:
        example = self.examples[split][index]
        return {
            "id": self.example_id(split, index),
            "gold": [example.target, *example.aliases],
            "prediction": prediction,
            "score": score,  # generated tokens
        }


def summed_parse_counts(details: list[dict[str, Any]], count_names) -> dict[str, int]:
    """A split's parse counts (what a response parser could not use), summed over its responses,
    and how many responses ``max_new_tokens`` cut (``ended`` false): the formulations that parse
    generated text (span_generation, label_generation) put these beside their metric."""
    totals = {name: sum(int(d[name]) for d in details) for name in count_names}
    return {**totals, "unfinished_responses": sum(not d["ended"] for d in details)}


def lm_collate(pad_id: int):
    from harness.formulations.batching import pad_batch

    def collate(examples: list[dict]) -> dict:
        return pad_batch(examples, pad_id)

    return collate


def prompt_collate(examples: list[dict]) -> dict:
    """Evaluation batches: prompts stay token lists (generation pads them on the left itself)."""
    return {
        "prompt_ids": [e["prompt_ids"] for e in examples],
        "index": torch.tensor([e["index"] for e in examples]),
        "num_tokens": sum(len(e["prompt_ids"]) for e in examples),  # for the throughput meter
    }


def build_generation(spec: Generation, task, task_data, backbone, method, trainer_cfg, seed: int):
    from harness.formulations.datamodule import ExampleData
    from harness.metrics import metric_for

    tokenizer = backbone.tokenizer
    splits = {"train": task_data.train, "dev": task_data.dev, "test": task_data.test}
    prompts = DemonstratedPrompts.for_method(tokenizer, spec.prompt, method, _solved(task_data.train), seed)
    items, lengths = {}, {}
    for split, examples in splits.items():
        if split == "train":
            responses = [response_ids(tokenizer, e.target, spec.prompt) for e in examples]
            budgets = [trainer_cfg.max_length - len(r) for r in responses]
            items[split] = [
                training_item(prompt, response, trainer_cfg.max_length, spec.loss_on)
                for prompt, response in zip(prompts.encode(split, _solved(examples), budgets), responses)
            ]
            lengths[split] = [len(i["input_ids"]) for i in items[split]]
        else:
            budget = max(trainer_cfg.max_length - spec.max_new_tokens, 1)
            encoded = prompts.encode(split, _solved(examples), budget)
            items[split] = [{"prompt_ids": truncate_prompt(prompt, budget)} for prompt in encoded]
            lengths[split] = [len(i["prompt_ids"]) for i in items[split]]
    data = ExampleData.for_trainer(items, lengths, lm_collate(tokenizer.pad_token_id), prompt_collate, trainer_cfg, seed)
    module = Generator(
        backbone.model, tokenizer, spec, metric_for("exact_match"), task.metric, method, splits, task,
        weight_decay=trainer_cfg.weight_decay, warmup_ratio=trainer_cfg.warmup_ratio,
    )  # fmt: skip
    module.demonstration_log = prompts.log
    return module, data


def _solved(examples) -> list[PromptResponse]:
    return [PromptResponse(e.prompt, e.target, e.id) for e in examples]
