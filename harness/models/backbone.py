"""Loading a backbone (model + tokenizer) from any of the sources in `ModelSpec`.

Hub and local directories go through transformers' own `from_pretrained`. A GGUF file inside an
installed package is dequantized by transformers once and cached as safetensors, keyed by the
file's hash, because dequantizing SmolLM2 takes ~15 s on 2 cores. Random weights come from a
config under a fixed init seed, so every run of a sweep starts from the same "pretrained" model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, PretrainedConfig

from harness.models.files import ModelUnavailableError, cached_file_sha256, package_dir
from harness.models.info import ModelInfo
from harness.models.spec import ModelSpec, TokenizerSource

RANDOM_INIT_SEED = 0


@dataclass
class Backbone:
    model: nn.Module  # the base transformer (no LM head) or, with_lm_head=True, the causal LM
    tokenizer: object
    info: ModelInfo


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE_DIR", Path.home() / ".cache" / "harness"))


def dequantized_gguf_dir(package: str, gguf_file: str, cache_dir: Path) -> Path:
    """A plain safetensors copy of a packaged GGUF model, made once and reused by hash."""
    source = package_dir(package) / gguf_file
    if not source.is_file():
        raise ModelUnavailableError(f"{source}: GGUF file not found in package '{package}'")
    target = cache_dir / "gguf" / cached_file_sha256(source, cache_dir)[:16]
    if (target / "config.json").is_file():
        return target
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=gguf_file, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=gguf_file)
    # The copy is plain fp32; GGUF is only how the weights arrived, so drop the quantizer that
    # would otherwise refuse to serialize the (already dequantized) model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)  # atomic: a concurrent job sees all of it or none
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target


def _pretrained_location(spec: ModelSpec | TokenizerSource, cache_dir: Path) -> tuple[str, bool]:
    """(path or hub id for from_pretrained, whether it is a Hub id)."""
    if spec.source == "hub":
        return spec.path, True
    if spec.source == "local":
        if not Path(spec.path).is_dir():
            raise ModelUnavailableError(f"model directory {spec.path} does not exist")
        return spec.path, False
    if spec.source == "package_dir":
        return str(package_dir(spec.path) / spec.subdir), False
    if spec.source == "gguf_package":
        return str(dequantized_gguf_dir(spec.path, spec.gguf_file, cache_dir)), False
    raise ValueError(f"source {spec.source!r} has no pretrained location")


def _from_pretrained(loader, location: str, is_hub: bool, name: str, **kwargs):
    """from_pretrained that tries the local HF cache first and turns 'not available' into one line."""
    if not is_hub:
        return loader.from_pretrained(location, **kwargs)
    try:
        return loader.from_pretrained(location, local_files_only=True, **kwargs)
    except OSError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise ModelUnavailableError(
            f"model '{name}' ({location}) is not available locally and HF_HUB_OFFLINE is set"
        ) from None
    try:
        return loader.from_pretrained(location, **kwargs)
    except OSError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelUnavailableError(
            f"model '{name}' ({location}) is not available locally and could not be downloaded: {first_line}"
        ) from None


def load_config(spec: ModelSpec, cache_dir: Path | None = None) -> PretrainedConfig:
    """The backbone's transformers config: cheap for every source except a first GGUF load."""
    cache_dir = cache_dir or default_cache_dir()
    if spec.source == "random":
        values = dict(spec.config)
        return AutoConfig.for_model(values.pop("model_type"), **values)
    location, is_hub = _pretrained_location(spec, cache_dir)
    return _from_pretrained(AutoConfig, location, is_hub, spec.name)


def model_info(spec: ModelSpec, cache_dir: Path | None = None) -> ModelInfo:
    return ModelInfo.from_config(spec.name, spec.kind, load_config(spec, cache_dir))


def load_tokenizer(spec: ModelSpec, cache_dir: Path | None = None):
    cache_dir = cache_dir or default_cache_dir()
    source = spec.tokenizer or spec
    location, is_hub = _pretrained_location(source, cache_dir)
    tokenizer = _from_pretrained(AutoTokenizer, location, is_hub, spec.name)
    if tokenizer.pad_token is None:
        # Decoder tokenizers often have no pad token; any id works since padded positions are
        # masked out of attention and of the loss.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def check_vocabulary_fits(spec: ModelSpec, config: PretrainedConfig, tokenizer) -> None:
    """Random weights borrow another model's tokenizer: every id it can produce needs an embedding
    row, or the first lookup fails far from the cause (IndexError on a CPU, a device-side assert
    on a GPU)."""
    if len(tokenizer) > config.vocab_size:
        source = spec.tokenizer or spec
        raise ValueError(
            f"model.config.vocab_size: {config.vocab_size} embedding rows for model '{spec.name}', but its "
            f"tokenizer ({source.source} {source.path}) has {len(tokenizer)} tokens; set it to at least {len(tokenizer)}"
        )


def _quantization_config(spec: ModelSpec):
    if spec.quantization is None:
        return None
    if not torch.cuda.is_available():
        raise ModelUnavailableError(f"model.quantization={spec.quantization}: 4-bit weights need a CUDA GPU")
    try:
        from transformers import BitsAndBytesConfig
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelUnavailableError("model.quantization=nf4 needs the bitsandbytes package") from None
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_backbone(spec: ModelSpec, cache_dir: Path | None = None, with_lm_head: bool = False) -> Backbone:
    """Model and tokenizer. `with_lm_head` gives the causal LM (generative formulations)."""
    cache_dir = cache_dir or default_cache_dir()
    loader = AutoModelForCausalLM if with_lm_head else AutoModel
    dtype = getattr(torch, spec.dtype)
    config = load_config(spec, cache_dir)
    config._attn_implementation = spec.attn_implementation
    tokenizer = load_tokenizer(spec, cache_dir)
    if spec.source == "random":
        check_vocabulary_fits(spec, config, tokenizer)  # before a large model is initialised
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            model = loader.from_config(config, dtype=dtype, attn_implementation=spec.attn_implementation)
    else:
        location, is_hub = _pretrained_location(spec, cache_dir)
        kwargs = dict(dtype=dtype, attn_implementation=spec.attn_implementation)
        quantization = _quantization_config(spec)
        if quantization is not None:
            kwargs["quantization_config"] = quantization
        model = _from_pretrained(loader, location, is_hub, spec.name, **kwargs)
    model.config.use_cache = False  # training and scoring never reuse a KV cache
    return Backbone(model=model, tokenizer=tokenizer, info=ModelInfo.from_config(spec.name, spec.kind, config))
