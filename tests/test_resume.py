"""An interrupted run resumes from its last checkpoint and ends with the same metrics as an
uninterrupted one (deterministic CPU); a failed run is retried from scratch."""

from __future__ import annotations

import lightning as L
import pytest

import harness.formulations.stages
from harness.run import run
from tests.composing import compose_config, quick_overrides


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
    ])  # fmt: skip


def test_killed_run_resumes_mid_epoch_and_matches(tmp_path, data_root, monkeypatch):
    reference = run(_config(tmp_path / "uninterrupted"))
    assert reference.status == "completed", reference.error

    real_build_trainer = harness.formulations.stages.build_trainer

    def build_with_kill(cfg, work_dir, monitor, loggers, callbacks):
        return real_build_trainer(cfg, work_dir, monitor, loggers, [*callbacks, _KillAt(step=10)])

    monkeypatch.setattr(harness.formulations.stages, "build_trainer", build_with_kill)
    with pytest.raises(SystemExit):
        run(_config(tmp_path / "interrupted"))  # 6 batches an epoch: killed in epoch 2, batch 5
    monkeypatch.setattr(harness.formulations.stages, "build_trainer", real_build_trainer)
    run_dir = tmp_path / "interrupted" / "results" / "default" / reference.run_id
    assert not (run_dir / "result.json").exists()  # a kill leaves no record
    checkpoints = tmp_path / "interrupted" / "outputs" / "default" / reference.run_id / "train" / "checkpoints"
    assert (checkpoints / "resume.ckpt").exists()

    resumed = run(_config(tmp_path / "interrupted"))
    assert resumed.status == "completed", resumed.error
    assert resumed.metrics["dev"] == reference.metrics["dev"]
    assert resumed.metrics["test"] == reference.metrics["test"]

    # The cost is both attempts': the batches after the last checkpoint (steps 8 and 9) were
    # trained twice, and the first attempt's dev evaluation (end of epoch 1) is counted once.
    (first_try,), (stage,) = reference.stages, resumed.stages
    assert (resumed.cost.attempts, stage["attempts"], first_try["attempts"]) == (2, 2, 1)
    assert first_try["train_tokens"] < stage["train_tokens"] < 1.5 * first_try["train_tokens"]
    assert stage["eval_examples"] == first_try["eval_examples"]
    assert stage["optimizer_steps"] == first_try["optimizer_steps"] == 12
    assert stage["train_batch_seconds"] > 0 and stage["train_seconds"] >= stage["train_batch_seconds"]


def test_failed_run_is_retried_from_scratch(tmp_path, data_root):
    overrides = [*quick_overrides(tmp_path, train=16, evaluate=16), "method.target_modules=[no_such_module]"]
    bad = run(compose_config(overrides))
    assert bad.status == "failed"
    record = tmp_path / "results" / "default" / bad.run_id / "result.json"
    first_attempt = record.stat().st_ino
    again = run(compose_config(overrides))
    assert again.status == "failed" and again.run_id == bad.run_id
    assert record.stat().st_ino != first_attempt  # retried and re-recorded (atomic replace), not skipped
