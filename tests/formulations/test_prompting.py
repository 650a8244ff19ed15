"""Prompt and response token ids with SmolLM2's tokenizer: the loss mask covers exactly the response
(or every token), truncation never cuts the response, and the chat template wraps the prompt."""

from __future__ import annotations

import pytest

from harness.formulations.prompting import IGNORE_INDEX, PromptFormat, prompt_ids, response_ids, training_item

PROMPT = "Read the story. How is Anna related to Bob? Answer: Anna is Bob 's"
RESPONSE = "granddaughter"


def _pair(tokenizer, fmt: PromptFormat = PromptFormat()) -> tuple[list[int], list[int]]:
    return prompt_ids(tokenizer, PROMPT, fmt), response_ids(tokenizer, RESPONSE, fmt)


def test_response_loss_masks_exactly_the_prompt_tokens(smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    prompt, response = _pair(tokenizer)
    item = training_item(prompt, response, max_length=512, loss_on="response")
    assert item["input_ids"] == prompt + response
    n = len(prompt)
    for position, (token, label) in enumerate(zip(item["input_ids"], item["labels"], strict=True)):
        assert label == (IGNORE_INDEX if position < n else token), position
    assert item["labels"][-1] == item["input_ids"][-1] == tokenizer.eos_token_id
    # the response tokens are the answer after the separating space, then EOS
    assert tokenizer.decode(item["input_ids"][n:-1]) == " " + RESPONSE
    assert tokenizer.decode(item["input_ids"][:n]) == PROMPT


def test_all_tokens_loss_labels_every_token(smollm2_tokenizer):
    prompt, response = _pair(smollm2_tokenizer)
    item = training_item(prompt, response, max_length=512, loss_on="all")
    assert item["labels"] == item["input_ids"] == prompt + response
    assert IGNORE_INDEX not in item["labels"]


@pytest.mark.parametrize("loss_on", ["response", "all"])
def test_truncation_keeps_the_response_and_cuts_the_prompt_from_its_start(smollm2_tokenizer, loss_on):
    prompt, response = _pair(smollm2_tokenizer)
    max_length = len(response) + 5
    assert len(prompt) > 5  # the prompt must lose tokens
    item = training_item(prompt, response, max_length=max_length, loss_on=loss_on)
    assert len(item["input_ids"]) == max_length
    assert item["input_ids"] == prompt[-5:] + response  # the prompt's end, where the question is
    expected_prompt_labels = [IGNORE_INDEX] * 5 if loss_on == "response" else prompt[-5:]
    assert item["labels"] == expected_prompt_labels + response


def test_a_short_enough_pair_is_not_truncated(smollm2_tokenizer):
    prompt, response = _pair(smollm2_tokenizer)
    exact = len(prompt) + len(response)
    assert training_item(prompt, response, max_length=exact, loss_on="response")["input_ids"] == prompt + response


def test_chat_template_wraps_the_prompt_as_a_user_turn(smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    assert tokenizer.chat_template, "SmolLM2-Instruct ships a chat template"
    text = tokenizer.decode(prompt_ids(tokenizer, PROMPT, PromptFormat(chat_template=True)))
    assert f"<|im_start|>user\n{PROMPT}<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")  # the model's turn starts: the answer follows
    assert text.count("<|im_start|>user") == 1
    # the plain prompt carries none of the template's markers
    assert "<|im_start|>" not in tokenizer.decode(prompt_ids(tokenizer, PROMPT, PromptFormat()))


def test_instruction_comes_first(smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    instruction = "Answer with one word."
    plain = tokenizer.decode(prompt_ids(tokenizer, PROMPT, PromptFormat(instruction=instruction)))
    assert plain == f"{instruction}\n\n{PROMPT}"
    chat = tokenizer.decode(prompt_ids(tokenizer, PROMPT, PromptFormat(instruction=instruction, chat_template=True)))
    assert f"<|im_start|>user\n{instruction}\n\n{PROMPT}<|im_end|>" in chat


def test_chat_template_on_a_tokenizer_without_one_is_refused(smollm2_tokenizer):
    class NoTemplate:
        chat_template = None

    with pytest.raises(ValueError, match="chat_template"):
        prompt_ids(NoTemplate(), PROMPT, PromptFormat(chat_template=True))
