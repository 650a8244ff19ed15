"""Adapter families: what trains and what is patched in the backbone.

The method contract (duck-typed; methods never subclass each other, shared code is plain
functions such as `harness.methods.trainable.freeze_except`). A method is the dataclass named by
`_target_` in `conf/method/<name>.yaml`, with:

- ``name: str`` — the snake_case word used in the YAML file name and in records.
- ``lr: float`` — its default learning rate (methods differ by orders of magnitude; sweeps tune it).
- ``formulations: tuple[str, ...]`` — objectives it supports (``token_classification``,
  ``sequence_classification``, ``generation``, ``multiple_choice``, ``span_generation``,
  ``label_generation``).
- ``identity_at_init: bool`` — whether the adapted backbone equals the base model before training.
- ``stages: tuple[str, ...]`` — training stages in order: most have one (``("train",)``), LoFiT two
  (select heads, then train offsets), zero-shot and in-context baselines none (evaluate only).
  `run.py` fits once per stage, hands each stage's dev-selected weights to the next, sums the cost
  and evaluates test once, after the last.
- ``check(info: ModelInfo, formulation: str) -> None`` — impossible values fail here, before any
  weights load, naming the config key and what is allowed.
- ``apply(backbone: nn.Module, context: MethodContext) -> nn.Module`` — returns the adapted backbone
  with ``requires_grad`` set by ``is_trainable``; called once per stage with ``context.stage``. It
  may wrap (peft), patch, add modules, and write artefacts to ``context.artefact_dir``.
- ``is_trainable(parameter_name: str) -> bool`` — the trainable-parameter filter on the adapted
  backbone's parameter names (litgpt-style). Task heads belong to the formulation and always train.

Optional, each looked up with ``getattr``:

- ``loss_term(backbone) -> Tensor | None`` — added to the task loss and logged (LoFiT's L1).
- ``lr_for(parameter_name) -> float | None`` — a learning rate per parameter group, names as in
  the formulation module (``backbone.…``, ``head.…``); None means ``lr`` (PTEC's prompt vs head).
- ``logits_processors(tokenizer) -> list`` — transformers logits processors that constrain decoding.
- ``demonstrations -> DemonstrationSpec | None`` — in-context demonstrations for the LM-head
  formulations (`harness.methods.demonstration_spec`: ``k`` per prompt, ``selection`` random, bm25,
  embedding or fixed), drawn from the run's train split by the same policy for training and evaluation
  (`harness.formulations.demonstrations`). Absent or None: no demonstrations, today's prompts.
  ``icl`` provides it and trains nothing; a method that trains with demonstrations in the prompt
  (SIFT) provides the same attribute.
- ``loss_mode -> str | None`` — which tokens of a demonstrated prompt carry the language-modelling
  loss under `span_generation`: ``vanilla`` (every token), ``src`` (the query's response; the
  default) or ``mrc`` (every demonstration's response and the query's). ``sift`` provides it.
- ``label_scorer(train_texts, train_targets, cache_dir) -> Callable[[list[str]], Tensor]`` — under
  `sequence_classification`, per-label scores in [0, 1] for texts that replace the head's
  probabilities (the head is then frozen); the dev-tuned threshold still decides. ``knn`` provides it.

Which layers attend bidirectionally is not a method's business: it is the attention axis
(`conf/attention/`, `harness.models.attention_spec`), which a preset's YAML may choose.
"""
