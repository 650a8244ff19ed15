"""Two-process DDP on CPU (`trainer=ddp_cpu`: gloo), run for real through `python -m harness`, whose
command line Lightning runs again for rank 1.

The reference is the same run in one process with the same global batch: batch 8 x 2 accumulated
micro-batches there, batch 8 x 2 ranks here. The training sampler deals batches to ranks round-robin,
so each optimizer step sees the same two batches either way, and DDP's all-reduce mean (g0 + g1) / 2
equals accumulation's g0 / 2 + g1 / 2 up to float summation order; dropout is 0 (each rank draws its
own masks, a single process draws one stream). Evaluation differs only in how examples are padded
into batches. So the trained weights agree within WEIGHT_TOLERANCE (observed: ~4e-9, against LoRA
updates of ~1e-3 per step, so a different batch or step would show) and the metrics within
METRIC_TOLERANCE (a score moves by ~1/17 when one prediction changes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from harness.config import ConfigError, TrainerConfig, checked_dataclass
from harness.formulations.batching import LengthGroupedBatchSampler, RandomBatchSampler
from harness.run import run
from tests.composing import compose_config

REPO = Path(__file__).resolve().parents[1]
WEIGHT_TOLERANCE = 1e-6
METRIC_TOLERANCE = 1e-4
TRAIN, EVALUATE = 32, 17  # 17: rank 0 evaluates 9 examples of each split (3 batches), rank 1 8 (2)
FAILING_RANK_MESSAGE = "injected failure on rank 1"

RUN = [
    "model=tiny_llama", "budget=full", "trainer.precision=32-true", "logger=csv", "trainer.progress_bar=false",
    f"task.max_train_examples={TRAIN}", f"task.max_eval_examples={EVALUATE}", "trainer.max_epochs=1",
    "trainer.batch_size=8", "trainer.eval_batch_size=4", "trainer.dropout=0", "method.dropout=0",
]  # fmt: skip


def _paths(root: Path) -> list[str]:
    return [f"paths.results_dir={root / 'results'}", f"paths.work_dir={root / 'outputs'}"]


def _cli(root: Path, overrides: list[str], data_root: Path, module: str = "harness", timeout: int = 300):
    """`python -m <module> ...` in its own process group; waits for every process of it (rank 1
    included) to end, so a rank left behind fails the test rather than lingering."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK")}
    env.update(HARNESS_DATA_DIR=str(data_root), HF_HUB_OFFLINE="1", WANDB_MODE="offline", TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", module, *overrides, *_paths(root), f"hydra.run.dir={root / 'hydra'}"]
    started = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        deadline = time.monotonic() + 30
        while _group_alive(proc.pid):
            assert time.monotonic() < deadline, f"a rank outlived rank 0 by 30 s:\n{output[-3000:]}"
            time.sleep(0.2)
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, output, time.monotonic() - started


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _only_record(root: Path) -> dict:
    (path,) = (root / "results").rglob("result.json")
    return json.loads(path.read_text())


def _predictions(root: Path) -> list[dict]:
    (path,) = (root / "results").rglob("predictions.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _numbers(metrics, prefix: str = "") -> dict[str, float]:
    """Every number in a (nested) metrics dict, by its path: dev/span_f1, test/per_type/LOC/f1..."""
    if isinstance(metrics, dict):
        return {k: v for key, value in metrics.items() for k, v in _numbers(value, f"{prefix}{key}/").items()}
    is_number = isinstance(metrics, (int, float)) and not isinstance(metrics, bool)
    return {prefix.rstrip("/"): metrics} if is_number else {}


def _weights(root: Path, run_id: str) -> dict[str, torch.Tensor]:
    path = root / "outputs" / "default" / run_id / "train" / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def ddp(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("ddp")
    code, output, seconds = _cli(root, ["trainer=ddp_cpu", *RUN], data_root)
    assert code == 0, output[-5000:]
    print(f"two-process DDP run: {seconds:.1f} s")
    return root, _only_record(root), output


@pytest.fixture(scope="module")
def single(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("single")
    result = run(compose_config([*RUN, "trainer.accumulate_grad_batches=2", *_paths(root)]))
    assert result.status == "completed", result.error
    return root, _only_record(root)


def test_ddp_matches_one_process_with_the_same_global_batch(ddp, single):
    (ddp_root, ddp_record, _), (single_root, single_record) = ddp, single
    (ddp_stage,), (single_stage,) = ddp_record["stages"], single_record["stages"]
    assert (ddp_stage["world_size"], single_stage["world_size"]) == (2, 1)
    assert ddp_stage["optimizer_steps"] == single_stage["optimizer_steps"] == 2  # 4 batches of 8, 2 a step

    expected = _weights(single_root, single_record["run_id"])
    trained = _weights(ddp_root, ddp_record["run_id"])
    assert set(trained) == set(expected)
    assert max(t.abs().max().item() for n, t in expected.items() if "lora_B" in n) > 1e-4  # LoRA B starts at 0
    for name, tensor in expected.items():
        torch.testing.assert_close(trained[name], tensor, atol=WEIGHT_TOLERANCE, rtol=0, msg=name)

    single_metrics, ddp_metrics = _numbers(single_record["metrics"]), _numbers(ddp_record["metrics"])
    assert set(ddp_metrics) == set(single_metrics)
    for name, value in single_metrics.items():
        print(f"{name}: single {value!r}  ddp {ddp_metrics[name]!r}")
        assert ddp_metrics[name] == pytest.approx(value, abs=METRIC_TOLERANCE), name

    # Every example's prediction as one process made it (its score within rounding).
    ddp_rows, single_rows = _predictions(ddp_root), _predictions(single_root)
    assert [{**r, "score": None} for r in ddp_rows] == [{**r, "score": None} for r in single_rows]
    for got, want in zip(ddp_rows, single_rows):
        assert got["score"] == pytest.approx(want["score"], abs=METRIC_TOLERANCE)

    # Work is counted over both ranks: the same tokens and examples as the one process.
    for key in ("train_tokens", "eval_tokens", "eval_examples"):
        assert ddp_stage[key] == single_stage[key], key


def test_ddp_writes_one_record_and_evaluates_each_example_once(ddp):
    root, record, output = ddp
    assert record["status"] == "completed"
    assert output.count("· completed") == 1  # one summary: rank 1 prints none
    run_dir = root / "outputs" / "default" / record["run_id"]
    assert sorted(p.name for p in (root / "outputs" / "default").iterdir()) == [record["run_id"]]  # one run id

    (stage,) = record["stages"]
    assert stage["eval_examples"] == 2 * EVALUATE  # dev once (one epoch) and test once, each example once
    rows = _predictions(root)
    assert Counter(row["split"] for row in rows) == {"dev": EVALUATE, "test": EVALUATE}
    for split in ("dev", "test"):
        assert len({row["id"] for row in rows if row["split"] == split}) == EVALUATE

    # Each rank evaluated its own share (rank 0: 9 of each split, rank 1: 8) and trained its half
    # of the batches, in the same run directory (so rank 1 composed the same config and run id).
    shares = [json.loads((run_dir / "train" / name).read_text()) for name in ("cost.json", "cost.rank1.json")]
    assert [share["eval_examples"] for share in shares] == [18, 16]
    assert sum(share["train_tokens"] for share in shares) == stage["train_tokens"]
    assert all(share["train_tokens"] > 0 for share in shares)
    cost = record["cost"]
    assert cost["train_tokens_per_second"] == pytest.approx(stage["train_tokens"] / stage["train_batch_seconds"])

    # Rank 0 alone writes: one record and predictions, one CSV log, no files of rank 1 but its ledger.
    assert sorted(p.name for p in (root / "results").rglob("*") if p.is_file()) == ["predictions.jsonl", "result.json"]
    assert len(list(root.rglob("metrics.csv"))) == 1
    assert not (run_dir / "rank_errors").exists()


def test_a_rank_that_fails_alone_ends_in_rank_zeros_failed_record(tmp_path, data_root):
    """Rank 1 fails at its first training batch while rank 0 waits in the gradient all-reduce: rank 0
    records rank 1's error (it does not hang), and no process is left behind (`_cli` checks)."""
    code, output, seconds = _cli(tmp_path, ["trainer=ddp_cpu", *RUN], data_root, module="tests.test_ddp", timeout=240)
    print(f"failing two-process run: {seconds:.1f} s")
    assert code == 1, f"exit status {code}\n{output[-5000:]}"  # the run's status: not killed by Lightning
    record = _only_record(tmp_path)
    assert record["status"] == "failed"
    assert record["error"]["type"] == "RuntimeError"
    assert record["error"]["message"] == f"rank 1: {FAILING_RANK_MESSAGE}"
    rank_1, rank_0 = record["error"]["traceback"].split("--- rank 0 ---")
    assert rank_1.startswith("--- rank 1 ---") and FAILING_RANK_MESSAGE in rank_1
    assert "Connection closed by peer" in rank_0  # gloo: rank 0 learnt it from its all-reduce, at once
    assert f"error: RuntimeError: rank 1: {FAILING_RANK_MESSAGE}" in output


def test_fsdp_on_cpu_fails_at_start_naming_the_requirement(tmp_path, data_root):
    result = run(compose_config([*RUN, "trainer=fsdp", "trainer.accelerator=cpu", "trainer.devices=2", *_paths(tmp_path)]))
    assert result.status == "failed" and result.error["type"] == "ConfigError"
    assert result.error["message"].startswith("trainer.strategy=fsdp needs CUDA GPUs (trainer.accelerator=gpu)")
    assert "trainer=ddp_cpu" in result.error["message"]
    assert not result.stages  # before any weights were loaded
    with pytest.raises(ConfigError, match=r"trainer\.strategy=ddp_spawn is not supported"):
        checked_dataclass(TrainerConfig, {"strategy": "ddp_spawn", "accelerator": "cpu", "devices": 2}, "trainer")


@pytest.mark.parametrize("sampler_class", [LengthGroupedBatchSampler, RandomBatchSampler])
@pytest.mark.parametrize("examples, world", [(17, 2), (2, 2), (64, 3), (5, 4)])
def test_evaluation_shards_hold_every_example_once(sampler_class, examples, world):
    lengths = [(7 * i) % 23 + 1 for i in range(examples)]
    shards = [list(sampler_class(lengths, 4, shuffle=False, num_replicas=world, rank=r)) for r in range(world)]
    seen = [i for shard in shards for batch in shard for i in batch]
    assert sorted(seen) == list(range(examples))  # each exactly once: no padding repeats, none dropped
    for rank, shard in enumerate(shards):
        assert shard and len(shard) == len(sampler_class(lengths, 4, shuffle=False, num_replicas=world, rank=rank))
    with pytest.raises(ValueError, match="cannot be shared by 2 processes"):
        list(sampler_class([3], 4, shuffle=False, num_replicas=2, rank=1))


if __name__ == "__main__":  # `python -m tests.test_ddp ...`: the harness, with rank 1 failing at its first batch
    import hydra

    from harness.formulations.lifecycle import FormulationModule
    from harness.run import run_from_hydra

    def _failing_on_rank_1(self, batch, batch_idx, _step=FormulationModule.training_step):
        if self.global_rank == 1:
            raise RuntimeError(FAILING_RANK_MESSAGE)
        return _step(self, batch, batch_idx)

    FormulationModule.training_step = _failing_on_rank_1
    sys.exit(hydra.main(version_base="1.3", config_path=str(REPO / "conf"), config_name="config")(run_from_hydra)())
