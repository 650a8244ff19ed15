"""The span_generation formulation: each loss mode's mask covers exactly its tokens (vanilla: every
token; src: the query's response; mrc: every demonstration's response and the query's), checked token
by token; demonstrations never hold the query; dropping them for length keeps the query and its
response whole; evaluation rows hold the parsed tags and the raw response, and the scores the parse
counts of their split."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM

from harness.config import TrainerConfig
from harness.formulations.prompting import IGNORE_INDEX, PromptFormat, prompt_ids_marked, response_ids
from harness.formulations.span_generation import SpanGeneration, build_span_generation, span_types
from harness.methods.icl import ICL
from harness.methods.sift import SIFT
from harness.methods.zero_shot import ZeroShot
from harness.models.backbone import load_config
from harness.tasks.base import TaskData
from harness.tasks.examples import LabeledSentence
from tests.tiny_models import model_spec

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
TYPES = ["PER", "LOC", "ORG"]


def _sentence(text: str, tags: str, id: str) -> LabeledSentence:
    return LabeledSentence(tuple(text.split()), tuple(tags.split()), id)


TRAIN = [
    _sentence("Peter Blackburn visited Brussels .", "B-PER I-PER O B-LOC O", "0"),
    _sentence("EU rejects the call .", "B-ORG O O O O", "1"),
    _sentence("Nothing happened today .", "O O O O", "2"),
    _sentence("Paris is in France", "B-LOC O O B-LOC", "3"),
    _sentence("John met Mary in Rome last week .", "B-PER O B-PER O B-LOC O O O", "4"),
]
DEV = [_sentence("Anna flew to Oslo .", "B-PER O O B-LOC O", "d0"), TRAIN[1]]


@pytest.fixture(scope="module")
def causal_lm():
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(load_config(model_spec("tiny_llama"))).eval()


def _build(method, tokenizer, model, spec=None, max_length=512, train=TRAIN, dev=DEV, seed=0):
    data = TaskData(train=list(train), dev=list(dev), test=list(dev), labels=LABELS, data_hash="", source="")
    backbone = SimpleNamespace(model=model, tokenizer=tokenizer)
    task = SimpleNamespace(name="toy_ner", metric="span_f1")
    module, datamodule = build_span_generation(
        spec or SpanGeneration(), task, data, backbone, method, TrainerConfig(max_length=max_length), seed
    )
    return module, {split: list(s.items) for split, s in datamodule.splits.items()}


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """Maximal runs of True: [start, end)."""
    runs, start = [], None
    for position, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = position
        elif not flag and start is not None:
            runs.append((start, position))
            start = None
    return runs


def _shown(module, split: str, index: int, examples) -> list[LabeledSentence]:
    by_id = {e.id: e for e in examples}
    return [by_id[i] for i in module.demonstration_log.row(split, index)["demonstrations"]]


def _response(tokenizer, sentence: LabeledSentence, end: bool = True) -> list[int]:
    from harness.formulations.span_response import format_response

    return response_ids(tokenizer, format_response(sentence.words, sentence.tags), PromptFormat(), end=end)


@pytest.mark.parametrize("instruction", [False, True], ids=["plain", "instruction"])
def test_loss_masks_cover_exactly_their_tokens(smollm2_tokenizer, causal_lm, instruction):
    tokenizer = smollm2_tokenizer
    spec = SpanGeneration(instruction=instruction)
    items = {mode: _build(SIFT(k=2, loss_mode=mode), tokenizer, causal_lm, spec)[1]["train"] for mode in ("vanilla", "src", "mrc")}
    module, _ = _build(SIFT(k=2, loss_mode="mrc"), tokenizer, causal_lm, spec)
    for index, query in enumerate(TRAIN):
        ids = items["src"][index]["input_ids"]
        assert items["vanilla"][index]["input_ids"] == items["mrc"][index]["input_ids"] == ids  # one prompt, three masks
        response = _response(tokenizer, query)
        assert ids[-len(response) :] == response
        prompt_length = len(ids) - len(response)
        scored = {mode: [label != IGNORE_INDEX for label in items[mode][index]["labels"]] for mode in items}
        for mode in items:  # whatever is scored is scored as its own token
            assert all(l == t for l, t in zip(items[mode][index]["labels"], ids) if l != IGNORE_INDEX)
        assert all(scored["vanilla"])  # vanilla: every token
        assert scored["src"] == [False] * prompt_length + [True] * len(response)  # src: the query's response
        # mrc: the query's response, and in the prompt exactly each demonstration's response, token by token
        assert scored["mrc"][prompt_length:] == [True] * len(response)
        runs = _runs(scored["mrc"][:prompt_length])
        shown = _shown(module, "train", index, TRAIN)
        assert len(shown) == 2 and len(runs) == 2
        for (start, end), demonstration in zip(runs, shown):
            assert ids[start:end] == _response(tokenizer, demonstration, end=False)
            assert tokenizer.decode(ids[end : end + 2]) == "\n\n"  # the separator after it is not scored
        text = tokenizer.decode(ids[:prompt_length])
        assert text.startswith("Find the spans of types PER, LOC, ORG") == instruction


def test_mrc_marks_only_the_demonstrations_kept_after_dropping(smollm2_tokenizer, causal_lm):
    tokenizer = smollm2_tokenizer
    module, items = _build(SIFT(k=4, loss_mode="mrc"), tokenizer, causal_lm, max_length=60)
    shown_counts = [len(s) for s in module.demonstration_log.shown["train"]]
    assert module.demonstration_log._counts("train")["demonstrations_dropped"] > 0 and max(shown_counts) > 0
    for index, item in enumerate(items["train"]):
        response = _response(tokenizer, TRAIN[index])
        prompt_length = len(item["input_ids"]) - len(response)
        runs = _runs([label != IGNORE_INDEX for label in item["labels"][:prompt_length]])
        assert len(runs) == shown_counts[index]


def test_dropping_demonstrations_for_length_keeps_the_query_and_its_response_whole(smollm2_tokenizer, causal_lm):
    tokenizer = smollm2_tokenizer
    spec = SpanGeneration(max_new_tokens=16)
    for max_length in (60, 90, 512):
        module, items = _build(SIFT(k=4), tokenizer, causal_lm, spec=spec, max_length=max_length)
        log = module.demonstration_log
        for index, (item, query) in enumerate(zip(items["train"], TRAIN)):
            response = _response(tokenizer, query)
            assert len(item["input_ids"]) <= max_length
            assert item["input_ids"][-len(response) :] == response  # whole, with its EOS
            prompt = tokenizer.decode(item["input_ids"][: -len(response)])
            assert prompt.endswith(f"Sentence: {' '.join(query.words)}\nSpans:")  # the query whole, last
            assert prompt.count("Sentence:") == len(log.shown["train"][index]) + 1
        for item, query in zip(items["dev"], DEV):
            assert len(item["prompt_ids"]) <= max_length - spec.max_new_tokens
            assert tokenizer.decode(item["prompt_ids"]).endswith(f"Sentence: {' '.join(query.words)}\nSpans:")
            assert item["words"] == list(query.words)
        dropped = log._counts("train")["demonstrations_dropped"]
        assert (dropped > 0) == (max_length < 512)  # and counted in the record's scores
        assert set(log.scores("dev")) >= {"demonstrations_dropped", "train_demonstrations_dropped"}


@pytest.mark.parametrize("selection", ["random", "bm25", "fixed"])
def test_demonstrations_never_contain_the_query(smollm2_tokenizer, causal_lm, selection):
    repeated = [*TRAIN, _sentence("EU rejects the call .", "B-ORG O O O O", "5")]  # a train text twice
    module, _ = _build(SIFT(k=3, selection=selection), smollm2_tokenizer, causal_lm, train=repeated)
    log = module.demonstration_log
    for split, queries in (("train", repeated), ("dev", DEV)):
        for index, query in enumerate(queries):
            shown = _shown(module, split, index, repeated)
            assert len(shown) == 3
            assert all(s.id != query.id and s.words != query.words for s in shown), (split, query.id)
    assert log.row("dev", 1)["demonstrations"] and "1" not in log.row("dev", 1)["demonstrations"]


def test_fixed_selection_gives_every_dev_prompt_the_same_prefix(smollm2_tokenizer, causal_lm):
    from harness.formulations.generation import shared_prefix_length

    dev = [DEV[0], _sentence("Bob likes Berlin", "B-PER O B-LOC", "d1")]
    spec = SpanGeneration(instruction=True)
    _, items = _build(ICL(k=3, selection="fixed"), smollm2_tokenizer, causal_lm, spec=spec, dev=dev)
    prompts = [i["prompt_ids"] for i in items["dev"]]
    shared = smollm2_tokenizer.decode(prompts[0][: shared_prefix_length(prompts)])
    assert shared.startswith("Find the spans") and shared.count("Sentence:") == 4  # 3 demonstrations + the query's
    _, items = _build(ICL(k=3, selection="random"), smollm2_tokenizer, causal_lm, spec=spec, dev=dev)
    prompts = [i["prompt_ids"] for i in items["dev"]]
    assert smollm2_tokenizer.decode(prompts[0][: shared_prefix_length(prompts)]).count("Sentence:") < 4


def test_chat_template_marks_the_demonstration_responses_inside_the_user_turn(smollm2_tokenizer):
    fmt = PromptFormat(instruction="Tag it.", chat_template=True)
    prompt = "Sentence: A\nSpans: A:PER\n\nSentence: B\nSpans:"
    start = prompt.index(" A:PER")
    ids, marks = prompt_ids_marked(smollm2_tokenizer, prompt, fmt, [(start, start + len(" A:PER"))])
    (run,) = _runs(marks)
    assert smollm2_tokenizer.decode(ids[run[0] : run[1]]) == " A:PER"


def test_span_types_and_plain_tags(smollm2_tokenizer):
    assert span_types(LABELS, "toy") == TYPES
    with pytest.raises(ValueError, match="not IOB2 spans"):
        span_types(["NN", "VB"], "conll2003_pos")


def test_a_task_without_spans_fails_before_weights_load(tmp_path, data_root):
    from harness.run import run
    from tests.composing import compose_config, quick_overrides

    cfg = compose_config([
        *quick_overrides(tmp_path), "task=conll2003_pos", "formulation=span_generation", "method=icl",
        f"paths.data_dir={data_root}",
    ])  # fmt: skip
    result = run(cfg)
    assert result.status == "failed" and result.data_hash == ""  # at the combination check
    assert "formulation=span_generation: task 'conll2003_pos' is scored by token_accuracy" in result.error["message"]


def test_loss_mode_comes_from_the_method(smollm2_tokenizer, causal_lm):
    _, by_default = _build(ZeroShot(), smollm2_tokenizer, causal_lm)  # no demonstrations, no loss mode: src
    response = _response(smollm2_tokenizer, TRAIN[0])
    assert [label for label in by_default["train"][0]["labels"] if label != IGNORE_INDEX] == response
    with pytest.raises(ValueError, match="method.loss_mode"):
        _build(SimpleNamespace(lr=0.0, loss_mode="everything"), smollm2_tokenizer, causal_lm)


def test_predictions_hold_tags_and_response_and_scores_count_parse_failures(smollm2_tokenizer, causal_lm):
    module, items = _build(ICL(k=2), smollm2_tokenizer, causal_lm, spec=SpanGeneration(max_new_tokens=6))
    responses = iter(["Anna:PER; Oslo:LOC", "EU:ORG; Paris:LOC; EU:CORP; junk"])
    from harness.formulations.span_response import parse_response

    def fake_predict(batch):
        out = []
        for index, words in zip(batch["index"].tolist(), batch["words"]):
            text = next(responses)
            tags, counts = parse_response(text, words, TYPES)
            out.append((index, tags, {"response": text, "tokens": 6, "ended": index == 0, **counts.as_dict()}))
        return out

    module.predict = fake_predict
    from harness.formulations.span_generation import span_eval_collate

    module._predictions = {}
    module._collect(span_eval_collate([{**item, "index": i} for i, item in enumerate(items["dev"])]))
    scores = module.score("dev", dict(module._predictions))
    assert scores["span_f1"] == 1.0 and scores["span_f1_strict"] == 1.0  # what parses is scored like token classification
    assert (scores["unparsed_items"], scores["spans_not_in_sentence"], scores["unknown_types"]) == (1, 1, 1)
    assert scores["overlapping_spans"] == 0 and scores["unfinished_responses"] == 1
    row = module.row("dev", 1, *module._predictions[1])
    assert row["prediction"] == ["B-ORG", "O", "O", "O", "O"] and row["gold"] == list(DEV[1].tags)
    assert row["response"] == "EU:ORG; Paris:LOC; EU:CORP; junk"
    assert row["parse"] == {"unparsed_items": 1, "spans_not_in_sentence": 1, "unknown_types": 1, "overlapping_spans": 0}
    from harness.results.example_statistics import span_counts_conlleval

    assert span_counts_conlleval(row) == (1, 1, 1)  # the report's example-level statistics read these rows


def test_generation_through_the_module_parses_every_row(smollm2_tokenizer, causal_lm):
    for constrained in (False, True):
        spec = SpanGeneration(max_new_tokens=8, constrained=constrained)
        module, items = _build(ICL(k=2, selection="fixed"), smollm2_tokenizer, causal_lm, spec=spec)
        from harness.formulations.span_generation import span_eval_collate

        batch = span_eval_collate([{**item, "index": i} for i, item in enumerate(items["dev"])])
        predictions = module.predict(batch)
        assert [index for index, _, _ in predictions] == [0, 1]
        for (_, tags, score), query in zip(predictions, DEV):
            assert len(tags) == len(query.words) and "\n" not in score["response"]
            if constrained:
                assert score["spans_not_in_sentence"] == score["unknown_types"] == 0
