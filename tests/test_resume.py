"""An interrupted run resumes from its last checkpoint and ends with the same trained weights (bit
for bit, deterministic CPU) and metrics as an uninterrupted one; a failed run is retried from
scratch.

Metrics alone cannot show an exact resume: a tiny near-random model scores the same after many
different trainings. So the resumed run's checkpoints (trainable tensors only) are compared with
the uninterrupted run's, and two deliberately broken resumes (one that forgets the saved RNG
state, one that forgets where in the epoch it was) must end with different weights, which shows
both parts of the harness's resume matter and that the comparison would notice their loss."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
import torch

import harness.formulations.lifecycle
import harness.formulations.stages
from harness.formulations.datamodule import ExampleData
from harness.run import run
from tests.composing import compose_config, quick_overrides

KILL_STEP = 10  # 6 batches an epoch, a resume checkpoint every 4 steps: killed in epoch 2 at batch 5,
# resumed from step 8 (epoch 2 after batch 2), so the RNG and the batch order both need restoring.


class _KillAt(L.Callback):
    """Stands in for SIGKILL / preemption: leaves the run without a record, mid-epoch."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise SystemExit("killed")


def _config(tmp_path):
    return compose_config([
        *quick_overrides(tmp_path, train=48, evaluate=24),
        "trainer.max_epochs=2", "trainer.checkpoint_every_n_steps=4", "trainer.dropout=0.3",
        "trainer.log_every_n_steps=1",  # a CSV row per step, to see which attempt logged which step
    ])  # fmt: skip


def _checkpoint(root: Path, run_id: str, name: str) -> Path:
    return root / "outputs" / "default" / run_id / "train" / "checkpoints" / name


def _trained_tensors(root: Path, run_id: str, name: str) -> dict[str, torch.Tensor]:
    """The trainable tensors a run's checkpoint holds (the harness saves nothing else)."""
    return torch.load(_checkpoint(root, run_id, name), map_location="cpu", weights_only=True)["state_dict"]


def _differing(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> list[str]:
    """Names of tensors that are not bit-identical (same dtype, shape and every value)."""
    assert expected and set(actual) == set(expected)
    return sorted(name for name, tensor in expected.items() if not torch.equal(actual[name], tensor))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_root):
    """The reference: the same configuration trained without interruption (shared, as it is costly)."""
    root = tmp_path_factory.mktemp("uninterrupted")
    result = run(_config(root))
    assert result.status == "completed", result.error
    return root, result


def _kill_then_resume(root: Path, run_id: str, monkeypatch, *, breaking=()):
    """Run until KILL_STEP and die there without a record, then run again (the resume), with the
    `breaking` patches (object, attribute, replacement) in force during the resume only."""
    real_build_trainer = harness.formulations.stages.build_trainer

    def build_with_kill(cfg, work_dir, monitor, loggers, callbacks):
        return real_build_trainer(cfg, work_dir, monitor, loggers, [*callbacks, _KillAt(step=KILL_STEP)])

    with monkeypatch.context() as patch:
        patch.setattr(harness.formulations.stages, "build_trainer", build_with_kill)
        with pytest.raises(SystemExit):
            run(_config(root))
    assert not (root / "results" / "default" / run_id / "result.json").exists()  # a kill leaves no record
    assert _checkpoint(root, run_id, "resume.ckpt").exists()
    with monkeypatch.context() as patch:
        for owner, attribute, replacement in breaking:
            patch.setattr(owner, attribute, replacement)
        return run(_config(root))


def test_killed_run_resumes_mid_epoch_and_matches(uninterrupted, tmp_path, monkeypatch):
    reference_root, reference = uninterrupted
    resumed = _kill_then_resume(tmp_path, reference.run_id, monkeypatch)
    assert resumed.status == "completed", resumed.error
    assert resumed.run_id == reference.run_id
    (stage,) = resumed.stages
    assert stage["resumed_from"].endswith("resume.ckpt")  # mid-epoch, not the epoch-end last.ckpt

    # The weights a user gets are those of an uninterrupted run, bit for bit: the final ones
    # (last.ckpt) and the dev-selected ones that test used (best.ckpt).
    for name in ("last.ckpt", "best.ckpt"):
        expected = _trained_tensors(reference_root, reference.run_id, name)
        assert not _differing(expected, _trained_tensors(tmp_path, reference.run_id, name)), name
    assert resumed.metrics["dev"] == reference.metrics["dev"]
    assert resumed.metrics["test"] == reference.metrics["test"]

    # The cost is both attempts': the batches after the last checkpoint (steps 8 and 9) were
    # trained twice, and the first attempt's dev evaluation (end of epoch 1) is counted once.
    (first_try,) = reference.stages
    assert (resumed.cost.attempts, stage["attempts"], first_try["attempts"]) == (2, 2, 1)
    assert first_try["train_tokens"] < stage["train_tokens"] < 1.5 * first_try["train_tokens"]
    assert stage["eval_examples"] == first_try["eval_examples"]
    assert stage["optimizer_steps"] == first_try["optimizer_steps"] == 12
    assert stage["train_batch_seconds"] > 0 and stage["train_seconds"] >= stage["train_batch_seconds"]

    # Each attempt keeps its own CSV log: the killed one's (steps before the kill) is not overwritten.
    csv_dir = tmp_path / "outputs" / "default" / reference.run_id / "csv"
    logged_steps = {
        attempt: [int(row["step"]) for row in csv.DictReader((csv_dir / attempt / "metrics.csv").open()) if row.get("train/loss")]
        for attempt in ("version_0", "version_1")
    }  # fmt: skip
    assert logged_steps["version_0"] and max(logged_steps["version_0"]) < KILL_STEP
    assert logged_steps["version_1"] and min(logged_steps["version_1"]) >= 8


BROKEN_RESUMES = {
    # The dropout masks after the resume come from wherever the RNG happens to be, not from
    # where the uninterrupted run was at step 8 (dropout is 0.3, so they matter).
    "rng_forgotten": (harness.formulations.lifecycle, "restore_rng_state", lambda state: None),
    # The resumed epoch replays its batches from the first one instead of after the two done.
    "batch_order_forgotten": (ExampleData, "_batches_done_before_resume", lambda self: 0),
}


@pytest.mark.parametrize("broken", list(BROKEN_RESUMES))
def test_resume_without_rng_or_batch_position_ends_with_other_weights(broken, uninterrupted, tmp_path, monkeypatch):
    """Shows the weight comparison above can fail: a resume that drops one of the two things the
    harness restores (the RNG state saved in the checkpoint, the position in the epoch's batch
    order) trains to different weights. Were they equal, the exactness test would prove nothing."""
    reference_root, reference = uninterrupted
    resumed = _kill_then_resume(tmp_path, reference.run_id, monkeypatch, breaking=[BROKEN_RESUMES[broken]])
    assert resumed.status == "completed", resumed.error
    expected = _trained_tensors(reference_root, reference.run_id, "last.ckpt")
    assert _differing(expected, _trained_tensors(tmp_path, reference.run_id, "last.ckpt"))


def test_failed_run_is_retried_from_scratch(tmp_path, data_root):
    overrides = [*quick_overrides(tmp_path, train=16, evaluate=16), "method.target_modules=[no_such_module]"]
    bad = run(compose_config(overrides))
    assert bad.status == "failed"
    record = tmp_path / "results" / "default" / bad.run_id / "result.json"
    first_attempt = record.stat().st_ino
    again = run(compose_config(overrides))
    assert again.status == "failed" and again.run_id == bad.run_id
    assert record.stat().st_ino != first_attempt  # retried and re-recorded (atomic replace), not skipped
