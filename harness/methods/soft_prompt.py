"""The soft prompt PTEC and its text-to-text baselines share (`ptec`, `pt`, `pt_trie`): m trainable
input embeddings before the text, the language model frozen (Buchner et al. 2024, after Lester et
al. 2021).

peft's part: ``PromptTuningConfig`` and its ``PromptEmbedding`` (the m x H table, the only
trainable tensor), freezing the base model, ``get_prompt``. The wrapper the formulations call, which
hides the virtual positions from them (no pooling choice, padding side or label position ever sees
one), is `harness.methods.prompt_learning.VirtualTokenModel`.

Initialisations (``init``):

- ``label_names``: the word embeddings of the label names' tokens (the names joined by spaces, no
  special tokens). With more tokens than m, m of them drawn at random (the run's seed) and kept in
  text order; with fewer, repeated (peft's rule for text). Hand-written here, like prompt tuning's
  text initialisation, because peft's loads a tokenizer by name from the Hub; the reference code
  draws the m tokens in random order and fills a short prompt with the fixed token ids 1000, 1001, ...
- ``sample_vocab``: the embeddings of m tokens drawn uniformly from the vocabulary (peft's
  ``SAMPLE_VOCAB``; the reference code's "random" takes the fixed ids 1000 .. 1000 + m).
"""

from __future__ import annotations

import torch
from peft import PromptTuningConfig, PromptTuningInit
from torch import nn

from harness.methods.context import MethodContext
from harness.methods.prompt_learning import check_virtual_tokens, is_prompt_parameter, wrap
from harness.methods.prompt_tuning import init_from_ids
from harness.methods.trainable import freeze_except

INITS = ("label_names", "sample_vocab")


def check_soft_prompt(num_virtual_tokens: int, init: str) -> None:
    check_virtual_tokens(num_virtual_tokens)
    if init not in INITS:
        raise ValueError(f"method.init: {init!r} is not one of {list(INITS)}")


def apply_soft_prompt(backbone: nn.Module, num_virtual_tokens: int, init: str, context: MethodContext) -> nn.Module:
    """The backbone behind m virtual input tokens, frozen except the prompt."""
    if init == "label_names" and (context.tokenizer is None or not context.labels):
        raise ValueError("method.init: label_names needs the task's labels and the run's tokenizer (use sample_vocab)")
    start = PromptTuningInit.SAMPLE_VOCAB if init == "sample_vocab" else PromptTuningInit.RANDOM
    model = wrap(backbone, PromptTuningConfig(num_virtual_tokens=num_virtual_tokens, prompt_tuning_init=start))
    if init == "label_names":
        ids = label_name_ids(context.tokenizer, context.labels, num_virtual_tokens)
        init_from_ids(model.prompt_encoder.embedding, backbone.get_input_embeddings(), ids)
    return freeze_except(model, is_prompt_parameter)


def label_name_ids(tokenizer, labels: list[str], m: int) -> list[int]:
    """m token ids from the label names: a random, order-keeping subset, or the tokens repeated."""
    ids = tokenizer(" ".join(labels), add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"method.init: the label names {labels} have no tokens")
    if len(ids) > m:
        keep = sorted(torch.randperm(len(ids))[:m].tolist())
        return [ids[i] for i in keep]
    return (ids * -(-m // len(ids)))[:m]
