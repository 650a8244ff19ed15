"""Span generation: sequence labeling posed as constrained response generation (SIFT, Dukić,
Glavaš & Šnajder 2025, arXiv 2509.00921).

The prompt is an optional instruction, a method's k demonstrations (sentence and response, from
the train split, `harness.formulations.demonstrations`) and the query sentence; the model writes
the query's response, its typed spans (`harness.formulations.span_response`: ``EU:ORG;
German:MISC``), which is parsed back to IOB2 tags and scored with the token classifiers' span F1,
so generative and classifying methods share one leaderboard. What the parser could not place is
counted per split in the scores (``unparsed_items``, ``spans_not_in_sentence``, ``unknown_types``,
``overlapping_spans``), with ``unfinished_responses`` (cut by ``max_new_tokens``).

Each sentence is shown as ``template`` filled with its words joined by spaces::

    [instruction\\n\\n]Sentence: <demonstration 1>\\nSpans: <its response>\\n\\n ... Sentence: <query>\\nSpans:

**Loss** (the method's optional ``loss_mode``; ``src`` when it has none), on prompt + response:

- ``vanilla``: every token (the language-modelling loss on the whole prompt);
- ``src`` (single response completion): the query's response only, EOS included;
- ``mrc`` (multiple response completion): every demonstration's response (its tokens in the prompt,
  response prefix included, `DemonstratedPrompts.encode_marked`) and the query's.

**Evaluation** generates greedily in batches with left padding and the KV cache (`generation.
generate_batch`), stops a row at EOS or a line break, and with ``share_prefix`` encodes the tokens
all prompts of a batch begin with (the instruction; with ``method.selection=fixed`` every
demonstration too) once, reusing that key/value cache for every row. ``constrained`` adds a
logits processor built per batch from the batch's sentences (`span_constraint`): every written span
is then a word sequence of its query and every type one of the task's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from harness.formulations.demonstrations import DemonstratedPrompts, PromptResponse
from harness.formulations.generation import causal_lm_loss, generate_batch, lm_collate, summed_parse_counts
from harness.formulations.lifecycle import FormulationModule
from harness.formulations.prompting import PromptFormat, response_ids, training_item, truncate_prompt
from harness.formulations.span_constraint import SpanConstraint, TokenVocabulary
from harness.formulations.span_response import NONE_RESPONSE, ParseCounts, format_response, parse_response, response_text

LOSS_MODES = {"vanilla": "all", "src": "response", "mrc": "response"}
"""SIFT's loss modes and the `prompting.training_item` loss they start from (mrc adds the marked
demonstration responses)."""
DEFAULT_LOSS_MODE = "src"
DEFAULT_INSTRUCTION = (
    "Find the spans of types {types} in the last sentence. Answer with the spans in sentence order, "
    "each as its words, a colon and its type, separated by semicolons; answer {none} if there are none."
)


@dataclass
class SpanGeneration:
    """Sentence in, typed spans generated as text, parsed to IOB2 tags; span F1."""

    name: str = "span_generation"
    """Formulation name in records."""
    template: str = "Sentence: {sentence}\nSpans:"
    """How a sentence is shown (``{sentence}``: its words joined by spaces); the response follows."""
    instruction: bool = False
    """Put ``instruction_text`` before every prompt (the context study: on or off)."""
    instruction_text: str = DEFAULT_INSTRUCTION
    """The instruction; ``{types}`` becomes the task's span types, ``{none}`` the none answer."""
    chat_template: bool = False
    """Wrap the prompt as a user turn in the tokenizer's chat template."""
    response_prefix: str = " "
    """Text between a prompt and its response when no chat template is used."""
    none_response: str = NONE_RESPONSE
    """The response of a sentence without spans."""
    max_new_tokens: int = 64
    """Generation budget per response (CoNLL-2003 train: SmolLM2 tokens per response with its EOS,
    mean 11, 99th percentile 39, longest 124; 18 of 14,041 exceed 64)."""
    constrained: bool = False
    """Constrained decoding: every written span is a word sequence of the query, every type known."""
    share_prefix: bool = True
    """Encode the prefix all prompts of an evaluation batch share once and reuse its KV cache."""

    head = "lm"
    task_kinds = ("sequence_labeling",)

    def __post_init__(self) -> None:
        if "{sentence}" not in self.template:
            raise ValueError(f"formulation.template: must contain {{sentence}}, got {self.template!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"formulation.max_new_tokens: must be >= 1, got {self.max_new_tokens}")
        if not self.none_response.strip() or any(c in self.none_response for c in ";:\n"):
            raise ValueError(
                f"formulation.none_response: must be a word without ; : or a line break, got {self.none_response!r}"
            )

    def check_task(self, task) -> None:
        """Before weights load: a task scored by token accuracy (POS, plain tags) has no spans to write."""
        if task.metric != "span_f1":
            raise ValueError(
                f"formulation=span_generation: task {task.name!r} is scored by {task.metric}, not span F1: "
                "its tags are no spans; use token_classification"
            )

    def prompt_format(self, types: list[str]) -> PromptFormat:
        text = self.instruction_text.format(types=", ".join(types), none=self.none_response)
        return PromptFormat(text if self.instruction else None, self.chat_template, self.response_prefix)

    def build(self, task, task_data, backbone, method, trainer_cfg, seed: int, cache_dir):
        return build_span_generation(self, task, task_data, backbone, method, trainer_cfg, seed)


def loss_mode_of(method) -> str:
    mode = getattr(method, "loss_mode", None) or DEFAULT_LOSS_MODE
    if mode not in LOSS_MODES:
        raise ValueError(f"method.loss_mode: {mode!r} is not one of {list(LOSS_MODES)}")
    return mode


def span_types(labels: list[str], task_name: str) -> list[str]:
    """The span types of IOB2 labels, in label order; plain tags (POS) have no spans to write."""
    if any(label != "O" and label[:2] not in ("B-", "I-") for label in labels):
        raise ValueError(
            f"formulation=span_generation: task {task_name!r} has tags that are not IOB2 spans; "
            "use token_classification"
        )
    return list(dict.fromkeys(label[2:] for label in labels if label != "O"))


class SpanGenerator(FormulationModule):
    def __init__(
        self, backbone, tokenizer, spec: SpanGeneration, types: list[str], metric, metric_name: str, method,
        examples, task=None, weight_decay: float = 0.0, warmup_ratio: float = 0.1,
    ) -> None:  # fmt: skip
        super().__init__(backbone, method, metric_name, examples, None, weight_decay, warmup_ratio)
        self.tokenizer, self.spec, self.types, self.metric, self.task = tokenizer, spec, types, metric, task
        self.vocabulary = TokenVocabulary(tokenizer)  # line-break tokens stop generation; the constraint walks it

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return causal_lm_loss(self.backbone, batch)

    def processors(self, sentences: list[list[str]]) -> list:
        hooked = [
            processor
            for source in (self.method, self.task)
            if (factory := getattr(source, "logits_processors", None)) is not None
            for processor in factory(self.tokenizer)
        ]
        if self.spec.constrained:
            lead = "" if self.spec.chat_template else self.spec.response_prefix
            hooked.append(SpanConstraint(self.vocabulary, sentences, self.types, lead, self.spec.none_response))
        return hooked

    def predict(self, batch: dict[str, Any]) -> list[tuple[int, Any, Any]]:
        outputs = generate_batch(
            self.backbone, self.tokenizer, batch["prompt_ids"], self.spec.max_new_tokens, self.processors(batch["words"]),
            stop_token_ids=self.vocabulary.newline_ids, share_prefix=self.spec.share_prefix,
        )  # fmt: skip
        self.generated_in_last_batch = sum(len(o) for o in outputs)
        out = []
        for index, words, tokens in zip(batch["index"].tolist(), batch["words"], outputs):
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            ended = "\n" in text or len(tokens) < self.spec.max_new_tokens
            tags, counts = parse_response(text, words, self.types, self.spec.none_response, finished=ended)
            response = response_text(text)
            out.append((index, tags, {"response": response, "tokens": len(tokens), "ended": ended, **counts.as_dict()}))
        return out

    def _gold(self, split: str, index: int) -> list[str]:
        return list(self.examples[split][index].tags)

    def score(self, split: str, predictions: dict[int, tuple[Any, Any]]) -> dict[str, Any]:
        indices = sorted(predictions)
        scores = self.metric.compute(
            predictions=[predictions[i][0] for i in indices], references=[self._gold(split, i) for i in indices]
        )
        return {**scores, **summed_parse_counts([predictions[i][1] for i in indices], ParseCounts().as_dict())}

    def nothing_predicted(self, scores: dict[str, Any]) -> str | None:
        if scores.get("num_predicted_spans") == 0:
            return "the model predicts no span on dev (no response places one): untrained, or its responses do not parse"
        return None

    def row(self, split: str, index: int, prediction: Any, score: Any) -> dict[str, Any]:
        return {
            "id": self.example_id(split, index),
            "gold": self._gold(split, index),
            "prediction": prediction,  # IOB2 tags parsed from the response
            "score": score["tokens"],  # generated tokens
            "response": score["response"],
            "parse": {name: score[name] for name in ParseCounts().as_dict()},
        }


def span_eval_collate(examples: list[dict]) -> dict:
    """Evaluation batches: prompts stay token lists (generation pads them), with each row's words."""
    return {
        "prompt_ids": [e["prompt_ids"] for e in examples],
        "words": [e["words"] for e in examples],
        "index": torch.tensor([e["index"] for e in examples]),
        "num_tokens": sum(len(e["prompt_ids"]) for e in examples),  # for the throughput meter
    }


def posed(sentences, spec: SpanGeneration) -> list[PromptResponse]:
    """Each sentence as a prompt and its gold response (the response also where it is a query)."""
    return [
        PromptResponse(
            spec.template.format(sentence=" ".join(s.words)), format_response(s.words, s.tags, spec.none_response), s.id
        )
        for s in sentences
    ]


def build_span_generation(spec: SpanGeneration, task, task_data, backbone, method, trainer_cfg, seed: int):
    from harness.formulations.datamodule import ExampleData
    from harness.metrics import metric_for

    tokenizer = backbone.tokenizer
    types = span_types(list(task_data.labels), task.name)
    fmt = spec.prompt_format(types)
    mode = loss_mode_of(method)
    splits = {"train": task_data.train, "dev": task_data.dev, "test": task_data.test}
    prompts = DemonstratedPrompts.for_method(tokenizer, fmt, method, posed(task_data.train, spec), seed)
    items, lengths = {}, {}
    for split, sentences in splits.items():
        queries = posed(sentences, spec)
        if split == "train":
            responses = [response_ids(tokenizer, q.response, fmt) for q in queries]
            budgets = [trainer_cfg.max_length - len(r) for r in responses]
            if mode == "mrc":
                marked = prompts.encode_marked(split, queries, budgets)
            else:
                marked = [(ids, None) for ids in prompts.encode(split, queries, budgets)]
            items[split] = [
                training_item(ids, response, trainer_cfg.max_length, LOSS_MODES[mode], marks)
                for (ids, marks), response in zip(marked, responses)
            ]
            lengths[split] = [len(i["input_ids"]) for i in items[split]]
        else:
            budget = max(trainer_cfg.max_length - spec.max_new_tokens, 1)
            encoded = prompts.encode(split, queries, budget)
            items[split] = [
                {"prompt_ids": truncate_prompt(ids, budget), "words": list(s.words)} for ids, s in zip(encoded, sentences)
            ]
            lengths[split] = [len(i["prompt_ids"]) for i in items[split]]
    data = ExampleData.for_trainer(items, lengths, lm_collate(tokenizer.pad_token_id), span_eval_collate, trainer_cfg, seed)
    module = SpanGenerator(
        backbone.model, tokenizer, spec, types, metric_for(task.metric), task.metric, method, splits, task,
        weight_decay=trainer_cfg.weight_decay, warmup_ratio=trainer_cfg.warmup_ratio,
    )  # fmt: skip
    module.demonstration_log = prompts.log
    return module, data
