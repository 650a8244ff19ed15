"""Label generation: a multi-label text classification task posed as writing the label list
(text-to-text classification; the "PT" rows of PTEC, Buchner et al. 2024).

The prompt is ``template`` filled with the text; the model writes the example's labels in the
format of `harness.formulations.label_list` (task label order, ``"; "`` between labels, ``none``
for an empty set, then EOS)::

    <text>\\nLabels: Towards law enforcement; Swearing<EOS>

**Training**: next-token prediction on prompt + response, the loss on the response tokens (EOS
included; ``loss_on: all`` puts it on every token). **Evaluation** generates greedily in batches
with left padding and the KV cache (`generation.generate_batch`), stopping a row at EOS or a line
break, with the method's and the task's logits processors (``logits_processors(tokenizer)``, method
first): `pt_trie`'s keeps the response inside the label trie (`label_trie`). The response is parsed
by exact label match (`label_list.parse_label_list`) into a multi-hot vector and scored with the
multi-label metric of the classifiers (macro-F1, micro-F1, Jaccard, cardinalities), so generating
and classifying methods share one leaderboard. Per split the scores also count what the parser
could not use (``unknown_items``, ``repeated_labels``), ``none_responses`` and
``unfinished_responses`` (cut by ``max_new_tokens``).

**Length.** ``trainer.max_length`` cuts the text to that many tokens (keeping its start, as the
classifiers' inputs are cut), so a label-generation row reads exactly the text tokens a sequence
classification row of the same budget reads; the template around the text and the response come
on top. Template and text are tokenized piecewise (template before, text, template after) so that
the cut never falls inside the template.

Multi-label tasks only: a single-label task is a `generation` or `sequence_classification` task.
No demonstrations and no chat template (the PT baseline prompts the frozen model with a soft prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from harness.formulations.generation import causal_lm_loss, generate_batch, lm_collate, prompt_collate, summed_parse_counts
from harness.formulations.label_list import LabelListIds, ParseCounts, check_labels, parse_label_list
from harness.formulations.lifecycle import FormulationModule
from harness.formulations.prompting import LOSS_ON, training_item


@dataclass
class LabelGeneration:
    """Text in, label list generated and parsed by exact match; multi-label metrics."""

    name: str = "label_generation"
    """Formulation name in records."""
    template: str = "{text}\nLabels:"
    """How a text is shown (``{text}``: the text, cut to trainer.max_length tokens); the label list follows."""
    loss_on: str = "response"
    """response: loss on the label list and EOS only; all: on every real token."""
    max_new_tokens: int = 32
    """Generation budget per label list (hate speech train: at most 17 SmolLM2 tokens with EOS, 99th percentile 12)."""

    head = "lm"
    task_kinds = ("text_classification",)

    def __post_init__(self) -> None:
        if self.template.count("{text}") != 1:
            raise ValueError(f"formulation.template: must contain {{text}} once, got {self.template!r}")
        if self.loss_on not in LOSS_ON:
            raise ValueError(f"formulation.loss_on: {self.loss_on!r} is not one of {list(LOSS_ON)}")
        if self.max_new_tokens < 1:
            raise ValueError(f"formulation.max_new_tokens: must be >= 1, got {self.max_new_tokens}")

    def check_task(self, task) -> None:
        """Before any weights load: the task must be multi-label (a set of labels to list)."""
        if not getattr(task, "multi_label", False):
            raise ValueError(
                f"formulation={self.name}: task {task.name!r} is single-label; label_generation poses multi-label "
                "tasks (use sequence_classification)"
            )

    def build(self, task, task_data, backbone, method, trainer_cfg, seed: int, cache_dir):
        return build_label_generation(self, task, task_data, backbone, method, trainer_cfg, seed)


def prompt_ids(tokenizer, template: str, text: str, max_text_tokens: int) -> list[int]:
    """The template's tokens around the text's first ``max_text_tokens`` tokens (special tokens,
    e.g. BOS, come with the part before the text)."""
    before, after = template.split("{text}")
    text_ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_text_tokens]
    after_ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
    return list(tokenizer(before)["input_ids"]) + list(text_ids) + list(after_ids)


def newline_token_ids(tokenizer) -> list[int]:
    """Tokens whose text holds a line break: generation stops on them (the answer is one line)."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return [i for i, text in enumerate(texts) if "\n" in text]


class LabelGenerator(FormulationModule):
    def __init__(
        self, backbone, tokenizer, spec: LabelGeneration, labels: list[str], metric, metric_name: str, method,
        examples, task=None, weight_decay: float = 0.0, warmup_ratio: float = 0.1,
    ) -> None:  # fmt: skip
        super().__init__(backbone, method, metric_name, examples, None, weight_decay, warmup_ratio)
        self.tokenizer, self.spec, self.labels, self.metric, self.task = tokenizer, spec, list(labels), metric, task
        self._newline_ids: list[int] | None = None

    @property
    def newline_ids(self) -> list[int]:
        if self._newline_ids is None:
            self._newline_ids = newline_token_ids(self.tokenizer)
        return self._newline_ids

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return causal_lm_loss(self.backbone, batch)

    def processors(self) -> list:
        return [
            processor
            for source in (self.method, self.task)
            if (factory := getattr(source, "logits_processors", None)) is not None
            for processor in factory(self.tokenizer)
        ]

    def predict(self, batch: dict[str, Any]) -> list[tuple[int, Any, Any]]:
        outputs = generate_batch(
            self.backbone, self.tokenizer, batch["prompt_ids"], self.spec.max_new_tokens, self.processors(),
            stop_token_ids=self.newline_ids,
        )  # fmt: skip
        self.generated_in_last_batch = sum(len(o) for o in outputs)
        out = []
        for index, tokens in zip(batch["index"].tolist(), outputs):
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            ended = "\n" in text or len(tokens) < self.spec.max_new_tokens
            predicted, counts = parse_label_list(text, self.labels, finished=ended)
            response = text.split("\n", 1)[0].strip()
            details = {"response": response, "tokens": len(tokens), "ended": ended, **counts.as_dict()}
            out.append((index, predicted, details))
        return out

    def _vector(self, names) -> list[int]:
        names = set(names)
        return [int(label in names) for label in self.labels]

    def score(self, split: str, predictions: dict[int, tuple[Any, Any]]) -> dict[str, Any]:
        indices = sorted(predictions)
        scores = self.metric.compute(
            predictions=[self._vector(predictions[i][0]) for i in indices],
            references=[self._vector(self.examples[split][i].labels) for i in indices],
            label_names=self.labels,
        )
        return {**scores, **summed_parse_counts([predictions[i][1] for i in indices], ParseCounts().as_dict())}

    def nothing_predicted(self, scores: dict[str, Any]) -> str | None:
        if scores.get("num_examples") and scores.get("predicted_cardinality") == 0:
            return "no dev response names a label: untrained, or its responses do not parse"
        return None

    def row(self, split: str, index: int, prediction: Any, score: Any) -> dict[str, Any]:
        return {
            "id": self.example_id(split, index),
            "gold": list(self.examples[split][index].labels),
            "prediction": list(prediction),  # labels parsed from the response, in label order
            "score": score["tokens"],  # generated tokens
            "response": score["response"],
            "parse": {name: score[name] for name in ParseCounts().as_dict()},
        }


def build_label_generation(spec: LabelGeneration, task, task_data, backbone, method, trainer_cfg, seed: int):
    from harness.formulations.datamodule import ExampleData
    from harness.metrics import metric_for

    spec.check_task(task)
    tokenizer = backbone.tokenizer
    labels = list(task_data.labels)
    check_labels(labels)
    ids = LabelListIds.build(tokenizer, labels)
    index = {label: i for i, label in enumerate(labels)}
    splits = {"train": task_data.train, "dev": task_data.dev, "test": task_data.test}
    items, lengths = {}, {}
    for split, examples in splits.items():
        prompts = [prompt_ids(tokenizer, spec.template, e.text, trainer_cfg.max_length) for e in examples]
        if split == "train":
            responses = [ids.response([index[label] for label in e.labels]) for e in examples]
            # Nothing is cut here: the text already was (the whole item fits its own length).
            items[split] = [
                training_item(prompt, response, len(prompt) + len(response), spec.loss_on)
                for prompt, response in zip(prompts, responses)
            ]
            lengths[split] = [len(i["input_ids"]) for i in items[split]]
        else:
            items[split] = [{"prompt_ids": prompt} for prompt in prompts]
            lengths[split] = [len(prompt) for prompt in prompts]
    data = ExampleData.for_trainer(items, lengths, lm_collate(tokenizer.pad_token_id), prompt_collate, trainer_cfg, seed)
    module = LabelGenerator(
        backbone.model, tokenizer, spec, labels, metric_for("multi_label"), task.metric, method, splits, task,
        weight_decay=trainer_cfg.weight_decay, warmup_ratio=trainer_cfg.warmup_ratio,
    )  # fmt: skip
    return module, data

