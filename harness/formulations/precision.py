"""Which numeric precision a run trains and evaluates in: `trainer.precision` (Lightning's names),
or `auto`, resolved here before the run's identity is computed so that the record and its id hold
the precision that actually ran.

`auto` picks bf16 autocast (`bf16-mixed`: weights and optimizer state in fp32, matrix products in
bf16) where the hardware computes bf16 natively: a CUDA GPU that supports it, or a CPU with
AVX512-BF16 or AMX (oneDNN's bf16 kernels; without them bf16 is emulated and slower than fp32).
Anywhere else it is `32-true`. `python -m harness.bench precision` measures what each choice costs
and scores on this machine.
"""

from __future__ import annotations

import torch

from harness.config import PRECISIONS


def native_bf16() -> tuple[bool, str]:
    """(whether this machine computes bf16 natively, what it is), for the accelerator runs use."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return torch.cuda.is_bf16_supported(), f"CUDA GPU {name}"
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return True, f"CPU with native bf16 ({_cpu_bf16_flags() or 'oneDNN bf16 kernels'})"
    return False, "CPU without native bf16"


def _cpu_bf16_flags() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return ""
    return ", ".join(flag.upper() for flag in ("avx512_bf16", "amx_bf16") if flag in flags)


def resolve_precision(requested: str) -> tuple[str, str]:
    """(the Lightning precision to run, why): `auto` decided by the hardware, anything else as given."""
    if requested not in PRECISIONS:
        raise ValueError(f"trainer.precision: {requested!r} is not one of {list(PRECISIONS)}")
    if requested != "auto":
        return requested, "as configured"
    native, hardware = native_bf16()
    if native:
        return "bf16-mixed", f"auto: {hardware}"
    return "32-true", f"auto: {hardware}"
