"""Prompt and response as token ids, shared by the LM-head formulations (generation, multiple
choice): the instruction, the model's chat template on or off, truncation that never cuts the
response, and the loss mask (response tokens only, every real token, or the response and chosen
prompt tokens).

Prompt and response are tokenized separately and concatenated, so the boundary is the same token
whether or not a response follows (scoring a choice and generating an answer see one prompt).
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = -100
LOSS_ON = ("response", "all")


@dataclass
class PromptFormat:
    """How a prompt is shown to the model and where its response starts."""

    instruction: str | None = None
    """Text placed before every prompt (null: none)."""
    chat_template: bool = False
    """Wrap the prompt as a user turn in the tokenizer's chat template (instruction-tuned models)."""
    response_prefix: str = " "
    """Text between the prompt and the response when no chat template is used."""


def prompt_ids(tokenizer, prompt: str, fmt: PromptFormat) -> list[int]:
    text = f"{fmt.instruction}\n\n{prompt}" if fmt.instruction else prompt
    if fmt.chat_template:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("formulation.chat_template: the tokenizer has no chat template; set it to false")
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
        )
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
    return list(tokenizer(text)["input_ids"])


def prompt_ids_marked(
    tokenizer, prompt: str, fmt: PromptFormat, spans: list[tuple[int, int]]
) -> tuple[list[int], list[bool]]:
    """`prompt_ids` of ``prompt`` and one flag per token: True where the token's characters overlap
    one of ``spans`` (character [start, end) ranges of ``prompt``). Needs a fast tokenizer (offsets)."""
    text = f"{fmt.instruction}\n\n{prompt}" if fmt.instruction else prompt
    shift = len(text) - len(prompt)
    if fmt.chat_template:
        templated = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
        )
        shift += templated.index(text)
        encoded = tokenizer(templated, add_special_tokens=False, return_offsets_mapping=True)
    else:
        encoded = tokenizer(text, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    if ids != prompt_ids(tokenizer, prompt, fmt):
        raise ValueError("prompt_ids_marked: the prompt's tokens differ when read with offsets (chat template?)")
    shifted = [(start + shift, end + shift) for start, end in spans]
    marks = [
        any(start < token_end and token_start < end for start, end in shifted) and token_end > token_start
        for token_start, token_end in encoded["offset_mapping"]
    ]
    return ids, marks


def response_ids(tokenizer, response: str, fmt: PromptFormat, end: bool = True) -> list[int]:
    """The response's tokens (after the prefix), ending with EOS when ``end`` (what generation stops on)."""
    text = response if fmt.chat_template else fmt.response_prefix + response
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return ids + [tokenizer.eos_token_id] if end else ids


def training_item(
    prompt: list[int], response: list[int], max_length: int, loss_on: str, prompt_scored: list[bool] | None = None
) -> dict:
    """input_ids and labels for one prompt + response, cut to ``max_length`` from the prompt's
    start (the end of a prompt, where the question is, matters most; the response is kept whole).
    ``prompt_scored`` (one flag per prompt token, with ``loss_on: response``) puts the loss on those
    prompt tokens too (the demonstrations' responses, SIFT's MRC)."""
    scored = list(prompt_scored) if prompt_scored is not None else [loss_on != "response"] * len(prompt)
    if len(scored) != len(prompt):
        raise ValueError(f"training_item: {len(scored)} flags for {len(prompt)} prompt tokens")
    if len(response) >= max_length:
        response = response[:max_length]
        prompt, scored = [], []
    elif len(prompt) + len(response) > max_length:
        cut = len(prompt) + len(response) - max_length
        prompt, scored = prompt[cut:], scored[cut:]
    ids = prompt + response
    labels = [token if keep else IGNORE_INDEX for token, keep in zip(prompt, scored)] + list(response)
    return {"input_ids": ids, "labels": labels}


def truncate_prompt(prompt: list[int], max_length: int) -> list[int]:
    return prompt[-max_length:] if len(prompt) > max_length else prompt
