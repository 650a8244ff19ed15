"""Which formulation poses which kind of task, and the combination check made before weights load.

The formulations themselves are the dataclasses named by ``conf/formulation/*.yaml``; each task
YAML names its kind's default in its defaults list (``/formulation@_global_.formulation``), so
``formulation=NAME`` on the command line picks another.
"""

from __future__ import annotations

# What a task kind is posed as unless the run names another formulation.
DEFAULT_FORMULATION = {
    "sequence_labeling": "token_classification",
    "text_classification": "sequence_classification",
    "multiple_choice": "multiple_choice",
    "generation": "generation",
}


def default_formulation(task_kind: str) -> str:
    if task_kind not in DEFAULT_FORMULATION:
        raise ValueError(f"task kind {task_kind!r} has no default formulation; set `formulation` explicitly")
    return DEFAULT_FORMULATION[task_kind]


def check_combination(task, formulation, method, attention, info) -> None:
    """task x formulation x method x attention that cannot work fails here, naming what is allowed."""
    if task.kind not in formulation.task_kinds:
        raise ValueError(
            f"formulation={formulation.name}: cannot pose task {task.name!r} (kind {task.kind}); "
            f"it poses {list(formulation.task_kinds)}; the default for {task.kind} is {default_formulation(task.kind)}"
        )
    check_task = getattr(formulation, "check_task", None)  # optional: what a formulation asks of the task
    if check_task is not None:
        check_task(task)
    if formulation.head == "lm" and info.kind != "decoder":
        raise ValueError(f"formulation={formulation.name}: needs a language-model head; model {info.name} is an {info.kind}")
    method.check(info, formulation.name)
    attention.check(info, formulation.name)
