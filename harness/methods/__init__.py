"""Adapter families: what trains and what is patched in the backbone.

The method contract (duck-typed; methods never subclass each other, shared code is plain
functions such as `harness.methods.trainable.freeze_except`). A method is the dataclass named by
`_target_` in `conf/method/<name>.yaml`, with:

- ``name: str`` — the snake_case word used in the YAML file name, this module's name and records.
- ``lr: float`` — its default learning rate (methods differ by orders of magnitude; sweeps tune it).
- ``formulations: tuple[str, ...]`` — objectives it supports (``token_classification``,
  ``sequence_classification``, ``generative``, ``multiple_choice``).
- ``identity_at_init: bool`` — whether the adapted backbone equals the base model before training.
- ``stages: tuple[str, ...]`` — training stages in order; most have one (``("train",)``), LoFiT has
  two (select heads, then train offsets). `run.py` fits once per stage and calls
  ``apply(..., stage=...)`` for each.
- ``check(info: ModelInfo, formulation: str) -> None`` — impossible values fail here, before any
  weights load, naming the config key and what is allowed.
- ``apply(backbone: nn.Module, info: ModelInfo, stage: str = "train") -> nn.Module`` — returns the
  adapted backbone with ``requires_grad`` set by ``is_trainable``. It may wrap (peft), patch
  attention (`harness.models.attention`), or add modules (soft prompts, NTK prefixes, offsets).
- ``is_trainable(parameter_name: str) -> bool`` — the trainable-parameter filter on the adapted
  backbone's parameter names (litgpt-style: one small function). Task heads belong to the
  formulation and always train.
"""
