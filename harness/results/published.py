"""Published figures printed beside a leaderboard, for context.

A reader of a SmolLM2-on-two-cores leaderboard wants to know where the papers' own numbers sit: the
ordering of methods they report, and how far a small model at a small budget is from it. These rows
are other models, other budgets and sometimes other data splits, so they are never ranked, paired or
tested against the measured rows; the report prints them in a separate table under the board of the
same task and metric, each with its source.

Scores are on this harness's 0-1 scale (a paper's 92.4 F1 is 0.924), on the test set, and under the
metric definition this harness uses for that metric name (span F1: conlleval's, as the papers report;
see harness.metrics.span_f1). Written by hand: a list of citations is data, not something a library
keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.results.collect import STRICT_RECORDED, span_definition

if TYPE_CHECKING:
    from harness.results.aggregate import Leaderboard


@dataclass(frozen=True)
class PublishedFigure:
    task: str       # the harness's task name (the leaderboard's task)
    metric: str     # the harness's metric name the figure is read as
    method: str     # the paper's name for the method
    harness_method: str  # the harness method that implements it (the row to read it beside)
    model: str
    score: float    # test, 0-1 scale
    source: str     # paper, and what the figure averages over


_DUKIC_2024 = "Dukić & Šnajder 2024, 'Do Not (Always) Look Right', CoNLL-2003 test span F1"
_BUCHNER_2024 = ("Buchner et al. 2024 (NAACL Industry, arXiv 2309.12075), hate-speech test macro-F1, "
                 "mean of 3 seeds")

PUBLISHED: tuple[PublishedFigure, ...] = (
    PublishedFigure("conll2003_ner", "span_f1", "BERT-base (fine-tuned)", "full", "bert-base-cased", 0.924,
                    "Devlin et al. 2019 (NAACL), CoNLL-2003 test F1"),
    PublishedFigure("conll2003_ner", "span_f1", "Mistral-7B, causal (LoRA)", "ls_llama", "Mistral-7B", 0.7788,
                    _DUKIC_2024),
    PublishedFigure("conll2003_ner", "span_f1", "Mistral-7B, unmasked (LoRA)", "ls_unllama", "Mistral-7B", 0.9369,
                    _DUKIC_2024),
    PublishedFigure("hatespeech", "macro_f1", "PTEC (soft prompt + head)", "ptec", "LLaMA-7B", 0.437, _BUCHNER_2024),
    PublishedFigure("hatespeech", "macro_f1", "prompt tuning (text-to-text)", "pt", "LLaMA-7B", 0.526, _BUCHNER_2024),
    PublishedFigure("hatespeech", "macro_f1", "prompt tuning + trie", "pt_trie", "LLaMA-7B", 0.470, _BUCHNER_2024),
    PublishedFigure("hatespeech", "macro_f1", "head on frozen embeddings", "linear_probe", "LLaMA-7B", 0.365,
                    _BUCHNER_2024),
    PublishedFigure("hatespeech", "macro_f1", "kNN on sentence embeddings", "knn", "LLaMA-7B", 0.195, _BUCHNER_2024),
)

PUBLISHED_HEADERS = ["method (paper)", "harness method", "model", "test", "source"]
PUBLISHED_NOTE = ("Published figures, for context only: other models, budgets and training sets, so never "
                  "ranked or tested against the measured rows above.")


def published_for(task: str, metric: str, figures: tuple[PublishedFigure, ...] = PUBLISHED) -> list[PublishedFigure]:
    """The figures to print under the leaderboard of ``task`` and ``metric``, best first."""
    return sorted((f for f in figures if f.task == task and f.metric == metric), key=lambda f: -f.score)


def published_beside(board: Leaderboard) -> list[PublishedFigure]:
    """The figures for this board; none beside a board of strict IOB2 span F1 (records made before the
    conlleval definition), whose scores follow another definition than the papers'."""
    if any(span_definition(run) == STRICT_RECORDED for group in board.groups for run in group.runs):
        return []
    return published_for(board.task, board.metric)


def published_rows(figures: list[PublishedFigure]) -> list[list[str]]:
    """Display cells (unescaped) in PUBLISHED_HEADERS order."""
    return [[f.method, f.harness_method, f.model, f"{f.score:.4f}", f.source] for f in figures]
