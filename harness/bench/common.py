"""Shared pieces of the benchmarks: loading a model by config name, recording the output."""

from __future__ import annotations

import datetime
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from harness.config import instantiate_group
from harness.models.backbone import load_backbone

CONF = Path(__file__).resolve().parents[2] / "conf"


def backbone_from_conf(model_name: str, with_lm_head: bool = False):
    """A conf/model backbone; with its LM head (what the generative formulations run) in eval mode
    on the GPU if any."""
    spec = instantiate_group(OmegaConf.load(CONF / "model" / f"{model_name}.yaml"), "model")
    backbone = load_backbone(spec, with_lm_head=with_lm_head)
    if with_lm_head:
        backbone.model.eval().to("cuda" if torch.cuda.is_available() else "cpu")
    return backbone


def timed_call(function, *args):
    """(result, seconds), synchronising the GPU around the call when there is one."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - started


def method_from_conf(method_name: str, **overrides):
    node = OmegaConf.merge(OmegaConf.load(CONF / "method" / f"{method_name}.yaml"), overrides)
    return instantiate_group(node, "method")


def attention_from_conf(attention_name: str, **overrides):
    node = OmegaConf.merge(OmegaConf.load(CONF / "attention" / f"{attention_name}.yaml"), overrides)
    return instantiate_group(node, "attention")


def adapt(backbone, method, attention_name: str = "causal", formulation: str = "token_classification"):
    """The backbone's model with an attention choice and a method applied, as `run.py` does."""
    from harness.methods.context import MethodContext

    model = attention_from_conf(attention_name).apply(backbone.model, backbone.info)
    return method.apply(model, MethodContext(info=backbone.info, formulation=formulation, tokenizer=backbone.tokenizer))


def task_from_conf(task_name: str, **overrides):
    node = OmegaConf.merge(OmegaConf.load(CONF / "task" / f"{task_name}.yaml"), overrides)
    return instantiate_group(node, "task")


def median_ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds)


def header(name: str) -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m harness.bench " + " ".join([name, *sys.argv[2:]])
    return f"# benchmark: {name}\n\n- command: `{command}`\n- machine: {platform.node()}, {device}\n- date: {now}\n- torch {torch.__version__}\n"


def write_report(name: str, text: str, out: str | None) -> None:
    print(text)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"written to {path}")
