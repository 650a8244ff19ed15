"""Multiple choice by log-likelihood: each choice is scored by the summed log-probability of its
tokens given the question (lm-evaluation-harness's ``output_type: multiple_choice``), from which
the metric reads acc, length-normalised acc_norm, and TruthfulQA's MC1 / MC2 (Lin et al. 2022).

The question is encoded once per choice set (``share_prefix``): one forward over the questions of
a batch fills the KV cache, its rows are repeated for each question's choices, and one forward
over the choices' tokens continues from it. Choices never see each other; the first choice token
is scored from the question's last position. ``share_prefix: false`` scores each question+choice
row as one full sequence (the same numbers, more compute: the benchmark compares the two).

Fine-tuning uses the generation objective on (question, best answer). A method's in-context
demonstrations (question and best answer of train examples) precede every question, in training
and evaluation alike (`harness.formulations.demonstrations`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.formulations.demonstrations import DemonstratedPrompts, PromptResponse
from harness.formulations.generation import causal_lm_loss, lm_collate
from harness.formulations.lifecycle import FormulationModule, position_ids_from_mask
from harness.formulations.prompting import LOSS_ON, PromptFormat, response_ids, training_item


@dataclass
class MultipleChoice:
    """Choices ranked by the model's log-likelihood of each given the question."""

    name: str = "multiple_choice"
    """Formulation name in records."""
    prompt: PromptFormat = field(default_factory=PromptFormat)
    """Instruction, chat template on/off, text between question and answer."""
    loss_on: str = "response"
    """Fine-tuning on the best answer: response (answer tokens only) or all tokens."""
    share_prefix: bool = True
    """Encode each question once and reuse its KV cache for all of its choices."""
    choice_rows_per_forward: int = 64
    """Choice rows scored per forward pass (bounds the (rows, tokens, vocabulary) logits)."""

    head = "lm"
    task_kinds = ("multiple_choice",)

    def __post_init__(self) -> None:
        if isinstance(self.prompt, dict):
            self.prompt = PromptFormat(**self.prompt)
        if self.loss_on not in LOSS_ON:
            raise ValueError(f"formulation.loss_on: {self.loss_on!r} is not one of {list(LOSS_ON)}")
        if self.choice_rows_per_forward < 1:
            raise ValueError("formulation.choice_rows_per_forward: must be >= 1")

    def build(self, task, task_data, backbone, method, trainer_cfg, seed: int, cache_dir):
        return build_multiple_choice(self, task, task_data, backbone, method, trainer_cfg, seed)


def _right_pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def _token_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) at each position: (R, L, V), (R, L) -> (R, L)."""
    return logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def score_choices_full(model: nn.Module, context: list[int], choices: list[list[int]], pad: int) -> list[float]:
    """Each choice scored as its own full (question + choice) sequence, in one batch."""
    device = next(model.parameters()).device
    ids, mask = (t.to(device) for t in _right_pad([context + c for c in choices], pad))
    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids_from_mask(mask)).logits
    log_probs = _token_log_probs(logits[:, :-1], ids[:, 1:])  # position t predicts token t+1
    scores = []
    for row, choice in enumerate(choices):
        start = len(context) - 1
        scores.append(float(log_probs[row, start : start + len(choice)].sum()))
    return scores


@torch.no_grad()
def score_choices_shared(
    model: nn.Module, contexts: list[list[int]], choices: list[list[list[int]]], pad: int, rows_per_forward: int
) -> list[list[float]]:
    """Summed log-likelihood of every choice, each question's prefix encoded once."""
    device = next(model.parameters()).device
    width = max(len(c) for c in contexts)
    ctx_ids = torch.tensor([[pad] * (width - len(c)) + c for c in contexts], device=device)  # left padding
    ctx_mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts], device=device)
    out = model(
        input_ids=ctx_ids, attention_mask=ctx_mask, position_ids=position_ids_from_mask(ctx_mask), use_cache=True
    )
    first_log_probs = out.logits[:, -1].float().log_softmax(-1)  # (Q, V): the first choice token
    cache = out.cache  # transformers >= 5.2x names the KV cache `cache` (past_key_values is deprecated)
    rows = [(q, c) for q, question_choices in enumerate(choices) for c in range(len(question_choices))]
    # Similar lengths share a forward: each chunk is padded to its longest choice.
    rows.sort(key=lambda row: len(choices[row[0]][row[1]]))
    scores = [[0.0] * len(question_choices) for question_choices in choices]
    for start in range(0, len(rows), rows_per_forward):
        chunk = rows[start : start + rows_per_forward]
        owners = torch.tensor([q for q, _ in chunk], device=device)
        tokens = [choices[q][c] for q, c in chunk]
        ids, mask = (t.to(device) for t in _right_pad(tokens, pad))
        chunk_cache = copy.deepcopy(cache)
        chunk_cache.batch_select_indices(owners)
        lengths = ctx_mask[owners].sum(-1, keepdim=True)  # real context tokens per row
        positions = lengths + torch.arange(ids.shape[1], device=device).unsqueeze(0)  # (R, L)
        logits = model(
            input_ids=ids,
            attention_mask=torch.cat([ctx_mask[owners], mask], dim=1),
            position_ids=positions,
            cache=chunk_cache,
            use_cache=True,
        ).logits  # (R, L, V)
        later = _token_log_probs(logits[:, :-1], ids[:, 1:])  # tokens 1.. of each choice
        first = first_log_probs[owners].gather(-1, ids[:, :1]).squeeze(-1)  # token 0
        for row, (q, c) in enumerate(chunk):
            n = len(choices[q][c])
            scores[q][c] = float(first[row] + later[row, : n - 1].sum())
    return scores


class ChoiceScorer(FormulationModule):
    def __init__(
        self, backbone, tokenizer, spec: MultipleChoice, metric, metric_name: str, method, examples,
        weight_decay: float = 0.0, warmup_ratio: float = 0.1,
    ) -> None:  # fmt: skip
        super().__init__(backbone, method, metric_name, examples, None, weight_decay, warmup_ratio)
        self.tokenizer, self.spec, self.metric = tokenizer, spec, metric

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return causal_lm_loss(self.backbone, batch)

    def predict(self, batch: dict[str, Any]) -> list[tuple[int, Any, Any]]:
        pad = self.tokenizer.pad_token_id
        contexts, choices = batch["context_ids"], batch["choice_ids"]
        if self.spec.share_prefix:
            scores = score_choices_shared(self.backbone, contexts, choices, pad, self.spec.choice_rows_per_forward)
        else:
            scores = [score_choices_full(self.backbone, ctx, chs, pad) for ctx, chs in zip(contexts, choices)]
        out = []
        for index, question_scores in zip(batch["index"].tolist(), scores):
            best = max(range(len(question_scores)), key=question_scores.__getitem__)
            out.append((index, best, question_scores))
        return out

    def score(self, split: str, predictions: dict[int, tuple[Any, Any]]) -> dict[str, Any]:
        indices = sorted(predictions)
        questions = [self.examples[split][i] for i in indices]
        return self.metric.compute(
            predictions=[predictions[i][1] for i in indices],
            references=[[int(flag) for flag in q.correct] for q in questions],
            best=[q.best for q in questions],
            choice_lengths=[[len(c.encode("utf-8")) for c in q.choices] for q in questions],
        )

    def row(self, split: str, index: int, prediction: Any, score: Any) -> dict[str, Any]:
        question = self.examples[split][index]
        return {
            "id": self.example_id(split, index),
            "gold": {"best": question.best, "correct": [i for i, flag in enumerate(question.correct) if flag]},
            "prediction": prediction,  # index of the highest-scoring choice
            "score": [round(s, 4) for s in score],  # summed log-likelihood of each choice
        }


def choice_collate(examples: list[dict]) -> dict:
    return {
        "context_ids": [e["context_ids"] for e in examples],
        "choice_ids": [e["choice_ids"] for e in examples],
        "index": torch.tensor([e["index"] for e in examples]),
        "num_tokens": sum(len(e["context_ids"]) + sum(len(c) for c in e["choice_ids"]) for e in examples),
    }


def build_multiple_choice(spec: MultipleChoice, task, task_data, backbone, method, trainer_cfg, seed: int):
    from harness.formulations.datamodule import ExampleData
    from harness.metrics import metric_for

    tokenizer = backbone.tokenizer
    splits = {"train": task_data.train, "dev": task_data.dev, "test": task_data.test}
    prompts = DemonstratedPrompts.for_method(tokenizer, spec.prompt, method, _solved(task_data.train), seed)
    items, lengths = {}, {}
    for split, questions in splits.items():
        if split == "train":  # fine-tuning: the best answer as the response
            responses = [response_ids(tokenizer, q.choices[q.best], spec.prompt) for q in questions]
            budgets = [trainer_cfg.max_length - len(r) for r in responses]
            items[split] = [
                training_item(prompt, response, trainer_cfg.max_length, spec.loss_on)
                for prompt, response in zip(prompts.encode(split, _solved(questions), budgets), responses)
            ]
            lengths[split] = [len(i["input_ids"]) for i in items[split]]
        else:
            choice_ids = [[response_ids(tokenizer, c, spec.prompt, end=False) for c in q.choices] for q in questions]
            budgets = [max(trainer_cfg.max_length - max(map(len, choices)), 1) for choices in choice_ids]
            contexts = prompts.encode(split, _solved(questions), budgets)
            items[split] = [
                {"context_ids": context[-budget:], "choice_ids": choices}  # keep the question's end
                for context, choices, budget in zip(contexts, choice_ids, budgets)
            ]
            lengths[split] = [len(i["context_ids"]) + sum(map(len, i["choice_ids"])) for i in items[split]]
    data = ExampleData.for_trainer(items, lengths, lm_collate(tokenizer.pad_token_id), choice_collate, trainer_cfg, seed)
    module = ChoiceScorer(
        backbone.model, tokenizer, spec, metric_for("multiple_choice"), task.metric, method, splits,
        weight_decay=trainer_cfg.weight_decay, warmup_ratio=trainer_cfg.warmup_ratio,
    )  # fmt: skip
    module.demonstration_log = prompts.log
    return module, data


def _solved(questions) -> list[PromptResponse]:
    """A question with its best answer: how a demonstration shows it."""
    return [PromptResponse(q.question, q.choices[q.best], q.id) for q in questions]
