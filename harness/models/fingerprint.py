"""A fingerprint of the files a backbone's weights and tokenizer are read from.

It goes into the run's identity and the record's provenance, so that other weights behind the same
`conf/model/` name (an updated package, a re-exported local folder) are a new run, never a skip
with the old scores. By source:

- gguf_package: the GGUF file (it holds the weights and the tokenizer);
- local, package_dir: every weight, config and tokenizer file in the folder;
- random: the tokenizer's files (the weights follow from the config and a fixed init seed, which
  the config already carries into the identity);
- hub: the revision in the local Hugging Face cache (``hub:<id>@<commit>``), ``hub:<id>`` if not cached.

Hashing a 7B model's folder takes a minute; `files.cached_file_sha256` hashes a file once per
content change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.models.files import ModelUnavailableError, cached_file_sha256, package_dir
from harness.models.spec import ModelSpec, TokenizerSource

# Files from_pretrained reads: weights, configs, tokenizer vocabularies and merges.
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".json", ".txt", ".model", ".tiktoken")


def model_fingerprint(spec: ModelSpec, cache_dir: Path) -> str:
    """sha256 over the model's and its tokenizer's files (or the Hub revision); see the module doc."""
    parts = [_source_fingerprint(spec, cache_dir)]
    if spec.tokenizer is not None:
        parts.append("tokenizer " + _source_fingerprint(spec.tokenizer, cache_dir))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _source_fingerprint(source: ModelSpec | TokenizerSource, cache_dir: Path) -> str:
    if getattr(source, "source", None) == "random":
        return "random"  # the config and the fixed init seed are in the identity already
    if source.source == "hub":
        return _hub_revision(source.path)
    if source.source == "gguf_package":
        path = package_dir(source.path) / source.gguf_file
        if not path.is_file():
            raise ModelUnavailableError(f"{path}: GGUF file not found in package '{source.path}'")
        return f"{source.gguf_file} {cached_file_sha256(path, cache_dir)}"
    folder = Path(source.path) if source.source == "local" else package_dir(source.path) / source.subdir
    if not folder.is_dir():
        raise ModelUnavailableError(f"model directory {folder} does not exist")
    files = sorted(
        path for path in folder.rglob("*")
        if path.is_file() and path.suffix in MODEL_FILE_SUFFIXES and not _hidden(path.relative_to(folder))
    )  # fmt: skip
    if not files:
        raise ModelUnavailableError(f"model directory {folder} holds no weight, config or tokenizer files")
    return "\n".join(f"{path.relative_to(folder).as_posix()} {cached_file_sha256(path, cache_dir)}" for path in files)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def _hub_revision(repo_id: str) -> str:
    """hub:<id>@<commit> from the local HF cache (the snapshot folder is named by its commit)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - an unreadable cache only means the revision is unknown
        cached = None
    if isinstance(cached, str):
        return f"hub:{repo_id}@{Path(cached).parent.name}"
    return f"hub:{repo_id}"
