"""What prompt tuning, prefix tuning and P-tuning share: m virtual tokens that the formulations never see.

peft's part: the tuners' configs (``PromptTuningConfig``, ``PrefixTuningConfig``,
``PromptEncoderConfig``), filling them from the model's config (layers, widths, grouped KV heads),
freezing the base model, the trainable prompt encoders (an embedding table; for P-tuning an MLP or
LSTM over it; for prefix tuning an optional projection) and ``PeftModel.get_prompt``, which turns
the encoder into m input embeddings (prompt tuning, P-tuning) or m keys and values per layer in a
``DynamicCache`` (prefix tuning).

Hand-written here: the model the formulations call (`VirtualTokenModel`). peft's own forwards
(``PeftModelForFeatureExtraction`` / ``PeftModelForCausalLM``) are not drop-in replacements of the
base model: prompt tuning and P-tuning return m + T positions, drop the caller's ``position_ids``
(so left padding shifts the rotary positions of real tokens) and put the virtual tokens before the
padding; prefix tuning shifts the positions by m and puts its keys before the padding too, so on a
sliding-window model (Mistral) how many prefix keys a token sees depends on how much padding its
row has. `VirtualTokenModel` calls the base model itself, around ``get_prompt``:

- each row is aligned so that its first real token comes first, the virtual tokens are put before
  it (as input embeddings, or as the cache the input continues), the base model runs, and the
  outputs are put back in the caller's layout with the virtual positions removed: the outputs
  (``last_hidden_state``, ``hidden_states``, ``logits``, ``loss``) have the input's length (the
  logits its last ``logits_to_keep`` positions when a count is passed, as transformers' models
  cut them) and a row's real-token outputs depend neither on the padding side nor on its amount;
- real tokens keep the caller's ``position_ids`` (or the base model's default); the m virtual
  input tokens take the m positions just before the row's first real token (``-m .. -1`` for
  positions counted from the mask), so under rotary embeddings a real token sees the prompt as it
  would see m tokens of text written before the input; prefix keys carry no position (peft's);
- a returned KV cache is laid out as the caller's mask plus the m virtual entries just before
  each row's first real token, so a later call passes the cache with a mask over its own tokens
  only (as with the base model: ``multiple_choice.score_choices_shared``) and the virtual tokens
  are inserted into that mask here;
- ``generate`` is a greedy loop over this forward with the cache (the formulations decode greedily
  with left padding); transformers' ``generate`` would rebuild position ids and caches its own way.
  It applies the caller's logits processors only, not extras from the model's generation_config.

Limits: decoder families with rotary positions only (llama, mistral, qwen2: a learned absolute
position table has no position before 0), ``output_attentions`` is refused (attention maps have
the virtual keys in an internal layout), a KV cache must come from this model's own forward, and
prefix tuning refuses unmasked attention layers (the prefix lives in the KV cache, which
`harness.models.attention` cannot unmask); prompt tuning and P-tuning work with them, the
virtual tokens being real input positions that the padding-only mask shows to every token.
"""

from __future__ import annotations

import torch
from peft import PeftConfig, PeftType, get_peft_model
from torch import nn
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from harness.methods.trainable import check_formulation
from harness.models.attention import AttentionControlError, unmasked_layers
from harness.models.info import ModelInfo

FAMILIES = ("llama", "mistral", "qwen2")
"""Model families (``model_type``) whose positions are rotary, so a position before the input exists."""

_VIRTUAL_TOKENS = "_harness_virtual_tokens"  # set on caches made by VirtualTokenModel: their m


def check_virtual_tokens(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"method.num_virtual_tokens: must be an integer >= 1, got {value!r}")


def check_encoder_hidden_size(value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(
            f"method.encoder_hidden_size: must be an integer >= 1 or null (the model's width), got {value!r}"
        )


def check_prompt_learning(name: str, info: ModelInfo, formulation: str, supported: tuple[str, ...]) -> None:
    """The formulation and the model family, before any weights load."""
    check_formulation(name, formulation, supported)
    if info.kind != "decoder" or info.family not in FAMILIES:
        raise ValueError(
            f"method={name}: model {info.name} ({info.kind}, family '{info.family}') is not supported: virtual "
            f"tokens are laid out for decoders with rotary positions (positions before the input's exist, a "
            f"prefix extends a causal KV cache); allowed families: {list(FAMILIES)}"
        )


def refuse_unmasked_attention(name: str, backbone: nn.Module) -> None:
    """Prefix tuning's keys are a filled KV cache, which unmasked layers refuse (see attention.py)."""
    try:
        layers = unmasked_layers(backbone)
    except AttentionControlError:  # a family without attention control has no unmasked layers
        return
    if layers:
        raise ValueError(
            f"method={name}: unmasked attention layers {sorted(layers)} cannot see a prefix held in the KV "
            "cache; use attention=causal, or prompt_tuning / p_tuning, whose virtual tokens are inputs"
        )


def is_prompt_parameter(parameter_name: str) -> bool:
    """The trainable-parameter filter of the three tuners: peft's prompt encoder, nothing else."""
    return "prompt_encoder." in parameter_name


def wrap(backbone: nn.Module, config: PeftConfig) -> "VirtualTokenModel":
    """peft's prompt-learning model around the backbone (base frozen), inside the drop-in wrapper."""
    config.task_type = "CAUSAL_LM" if backbone.get_output_embeddings() is not None else "FEATURE_EXTRACTION"
    return VirtualTokenModel(get_peft_model(backbone, config))


# --- rows: aligning each row's first real token to the front and back ---------------------------


def leading_padding(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) -> (B,): padding positions before each row's first real token."""
    return (attention_mask.long().cumsum(-1) == 0).sum(-1)


def roll_rows(x: torch.Tensor, shift: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Roll each row b of ``x`` (batch first) by ``shift[b]`` along ``dim``: out[b, i] = x[b, i - shift[b]]."""
    length = x.shape[dim]
    index = (torch.arange(length, device=x.device) - shift.to(x.device)[:, None]) % length  # (B, L)
    shape = [1] * x.dim()
    shape[0], shape[dim] = x.shape[0], length
    return x.gather(dim, index.view(shape).expand_as(x))


def _roll_cache(cache: DynamicCache, shift: torch.Tensor) -> None:
    for layer in cache.layers:
        if type(layer) is not DynamicLayer:  # sliding or static layers keep a window, not every key
            raise TypeError(f"cannot lay out a {type(layer).__name__} cache; this model makes plain DynamicCaches")
        if layer.is_initialized and layer.keys.numel():
            layer.keys, layer.values = roll_rows(layer.keys, shift, 2), roll_rows(layer.values, shift, 2)


def _insert_virtual(mask: torch.Tensor, virtual: int, lead: torch.Tensor) -> torch.Tensor:
    """The caller's (B, K) mask with ``virtual`` ones before each row's first real token."""
    aligned = torch.cat([mask.new_ones(mask.shape[0], virtual), roll_rows(mask, -lead)], dim=1)
    return roll_rows(aligned, lead)


class VirtualTokenModel(nn.Module):
    """A peft prompt-learning model that formulations call exactly as the base model (see module doc)."""

    def __init__(self, peft_model) -> None:
        super().__init__()
        self.peft = peft_model  # parameters: peft.prompt_encoder.default.*, peft.base_model.* (frozen)
        config = peft_model.active_peft_config
        self.virtual_tokens = int(config.num_virtual_tokens)
        self.in_cache = config.peft_type == PeftType.PREFIX_TUNING  # else: input embeddings

    @property
    def prompt_encoder(self) -> nn.Module:
        return self.peft.prompt_encoder[self.peft.active_adapter]

    def __getattr__(self, name: str):
        """Everything else (config, device, dtype, get_input_embeddings, ...) is the base model's."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "peft":
                raise
            return getattr(self.peft.get_base_model(), name)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        labels: torch.Tensor | None = None,
        past_key_values=None,
        **kwargs,
    ):
        if kwargs.get("output_attentions"):
            raise NotImplementedError("output_attentions: the maps would show the virtual keys in an internal layout")
        keep = kwargs.pop("logits_to_keep", 0)
        if not isinstance(keep, int) or keep < 0:
            raise NotImplementedError(f"logits_to_keep: a count of last positions only, got {keep!r}")
        if keep and labels is not None:
            raise ValueError("labels and logits_to_keep: the loss would score only the kept positions; pass one")
        cache = cache if cache is not None else past_key_values
        base = self.peft.get_base_model()
        use_cache = base.config.use_cache if use_cache is None else use_cache
        tokens = input_ids if input_ids is not None else inputs_embeds
        if tokens is None:
            raise ValueError("input_ids or inputs_embeds is required")
        batch, length = tokens.shape[:2]
        if cache is not None and getattr(cache, _VIRTUAL_TOKENS, None) != self.virtual_tokens:
            raise ValueError("cache: pass only a cache this model returned (it holds the virtual tokens)")
        past = cache.get_seq_length() - self.virtual_tokens if cache is not None else 0  # caller's positions in it
        if attention_mask is None:
            attention_mask = torch.ones(batch, past + length, dtype=torch.long, device=tokens.device)
        if attention_mask.shape != (batch, past + length):
            raise ValueError(
                f"attention_mask: expected shape {(batch, past + length)} (cached and new tokens), "
                f"got {tuple(attention_mask.shape)}"
            )
        if position_ids is None:  # the base model's default, not moved by the virtual tokens
            position_ids = (torch.arange(length, device=tokens.device) + past).expand(batch, length)
        position_ids = position_ids.expand(batch, length)
        inputs = dict(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        keep = min(keep, length)
        if cache is not None:  # the output has only the new tokens' positions: the base model cuts them
            return self._continue(base, inputs, position_ids, cache, use_cache, labels, {**kwargs, "logits_to_keep": keep})
        return self._first(base, inputs, position_ids, use_cache, labels, kwargs, keep)

    def _first(self, base, inputs, position_ids, use_cache, labels, kwargs, keep: int = 0):
        """A forward that starts a sequence: virtual tokens go just before each row's first real token."""
        input_ids, inputs_embeds, attention_mask = (inputs[k] for k in ("input_ids", "inputs_embeds", "attention_mask"))
        m = self.virtual_tokens
        batch = attention_mask.shape[0]
        lead = leading_padding(attention_mask)  # (B,)
        shifted = bool(lead.any())  # rows are rolled only when some row has left padding
        align, unalign = (lambda x: roll_rows(x, -lead)), (lambda x: roll_rows(x, lead))
        if not shifted:
            align = unalign = lambda x: x
        mask = torch.cat([attention_mask.new_ones(batch, m), align(attention_mask)], dim=1)  # (B, m + T)
        positions = align(position_ids)
        if self.in_cache:
            cache = self.peft.get_prompt(batch)  # peft: (B, kv heads, m, head dim) per layer
            ids = None if input_ids is None else align(input_ids)
            embeds = None if inputs_embeds is None else align(inputs_embeds)
        else:
            embeds = base.get_input_embeddings()(align(input_ids)) if inputs_embeds is None else align(inputs_embeds)
            prompt = self.peft.get_prompt(batch).to(embeds.dtype)  # (B, m, H)
            embeds = torch.cat([prompt, embeds], dim=1)  # (B, m + T, H)
            before = positions[:, :1] - m + torch.arange(m, device=positions.device)  # (B, m)
            positions = torch.cat([before, positions], dim=1)
            cache, ids = (DynamicCache() if use_cache else None), None
        # Without rolled rows the caller's last `keep` positions are the base model's last ones, which it
        # alone can cut before its vocabulary projection; rolled rows are cut after they are put back.
        cut_by_base = bool(keep) and not shifted
        out = base(
            input_ids=ids, inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
            cache=cache, use_cache=use_cache, **({"logits_to_keep": keep} if cut_by_base else {}), **kwargs,
        )  # fmt: skip
        skip = 0 if self.in_cache else m
        for key in ("last_hidden_state", "logits"):
            if out.get(key) is not None:
                if key == "logits" and cut_by_base:
                    continue  # already the caller's last `keep` positions
                out[key] = unalign(out[key][:, skip:])  # (B, T, ...) in the caller's layout
        if keep and not cut_by_base and out.get("logits") is not None:
            out["logits"] = out["logits"][:, -keep:]
        if out.get("hidden_states") is not None:
            out["hidden_states"] = tuple(unalign(h[:, skip:]) for h in out["hidden_states"])
        if use_cache and out.get("cache") is not None:
            # Internal layout [virtual, real, padding] -> [padding, virtual, real]: the caller's mask
            # with the virtual entries inserted before the first real token (see _continue).
            if shifted:
                _roll_cache(out["cache"], lead)
            setattr(out["cache"], _VIRTUAL_TOKENS, m)
        elif out.get("cache") is not None:
            out["cache"] = None  # as the base model: no cache unless asked
        return self._with_loss(base, out, labels)

    def _continue(self, base, inputs, position_ids, cache, use_cache, labels, kwargs):
        """A forward that continues a cache this model returned: only the mask needs the virtual tokens."""
        mask = inputs["attention_mask"]
        mask = _insert_virtual(mask, self.virtual_tokens, leading_padding(mask))
        out = base(
            input_ids=inputs["input_ids"], inputs_embeds=inputs["inputs_embeds"], attention_mask=mask,
            position_ids=position_ids, cache=cache, use_cache=use_cache, **kwargs,
        )  # fmt: skip
        return self._with_loss(base, out, labels)

    @staticmethod
    def _with_loss(base, out, labels):
        """The base model's own loss on the outputs in the caller's layout (virtual positions never scored)."""
        if labels is not None:
            if out.get("logits") is None:
                raise TypeError("labels: this backbone has no language-model head to score them")
            out["loss"] = base.loss_function(logits=out["logits"], labels=labels, vocab_size=base.config.vocab_size)
        return out

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_new_tokens: int = 20,
        do_sample: bool = False,
        num_beams: int = 1,
        use_cache: bool = True,
        pad_token_id: int | None = None,
        eos_token_id: int | list[int] | None = None,
        logits_processor=None,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
    ) -> torch.Tensor:
        """Greedy decoding, as transformers' ``generate(do_sample=False, num_beams=1)`` returns it: the
        prompt ids followed by the new ones; a row that wrote an eos continues with ``pad_token_id``."""
        if do_sample or num_beams != 1:
            raise NotImplementedError("generate: greedy decoding only (do_sample=False, num_beams=1)")
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        eos = [] if eos_token_id is None else [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        stop = torch.tensor(eos, dtype=torch.long, device=input_ids.device)
        if stop.numel() and pad_token_id is None:
            raise ValueError("generate: pad_token_id is needed to fill rows that finished (eos_token_id is set)")
        tokens, finished = input_ids, torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)  # over real tokens: left padding moves nothing
        out = self(input_ids=tokens, attention_mask=mask, position_ids=positions, use_cache=use_cache)
        for step in range(max_new_tokens):
            scores = out.logits[:, -1, :].float()
            if logits_processor is not None:
                scores = logits_processor(tokens, scores)
            chosen = scores.argmax(-1)
            if stop.numel():
                chosen = torch.where(finished, torch.full_like(chosen, pad_token_id), chosen)
                finished |= torch.isin(chosen, stop)
            tokens = torch.cat([tokens, chosen[:, None]], dim=1)
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
            if bool(finished.all()) or step == max_new_tokens - 1:
                break
            if use_cache:  # the new token only, at the next real position
                position = positions[:, -1:] + 1 + step  # (B, 1)
                out = self(input_ids=chosen[:, None], attention_mask=mask, position_ids=position, cache=out.cache,
                           use_cache=True)
            else:  # the whole sequence again
                positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
                out = self(input_ids=tokens, attention_mask=mask, position_ids=positions)
        return tokens
