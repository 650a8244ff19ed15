"""End to end: config -> task -> tiny backbone -> method -> fit -> dev/test -> result record.

Runs on the real CoNLL-2003 files (skipped without the data root), with small subsets.
"""

from __future__ import annotations

import json

import pytest

from harness.results.record import SCHEMA_VERSION, read_result
from harness.run import run
from tests.composing import compose_config, quick_overrides


def _run(tmp_path, extra=(), **kwargs):
    cfg = compose_config([*quick_overrides(tmp_path, **kwargs), *extra])
    return run(cfg)


def test_tiny_run_writes_a_complete_record(tmp_path, data_root):
    result = _run(tmp_path)
    assert result.status == "completed", result.error
    path = tmp_path / "results" / "default" / result.run_id / "result.json"
    on_disk = json.loads(path.read_text())
    assert on_disk["schema_version"] == SCHEMA_VERSION
    assert (on_disk["task"], on_disk["model"], on_disk["method"], on_disk["seed"]) == (
        "conll2003_ner", "tiny_llama", "lora", 1,
    )  # fmt: skip
    assert on_disk["primary_metric"] == "span_f1"
    for split in ("dev", "test"):
        assert 0.0 <= on_disk["metrics"][split]["span_f1"] <= 1.0
        assert set(on_disk["metrics"][split]["per_type"]) <= {"PER", "LOC", "ORG", "MISC"}
    cost = on_disk["cost"]
    # LoRA r=8 on q (64->64) and v (64->32) in 4 layers: 4 * (8*(64+64) + 8*(64+32)) = 7,168,
    # plus the head 64*9 + 9 = 585.
    assert cost["trainable_params"] == 7_168 + 585
    assert cost["total_params"] > cost["trainable_params"]
    assert cost["peak_memory_bytes"] > 0 and cost["peak_memory_kind"] == "rss"
    assert cost["train_seconds"] > 0 and cost["train_tokens_per_second"] > 0
    assert cost["eval_tokens_per_second"] > 0
    assert set(on_disk["versions"]) >= {"torch", "transformers", "peft", "lightning", "harness_commit"}
    assert len(on_disk["data_hash"]) == 64 and len(on_disk["model_hash"]) == 64
    assert on_disk["data_source"].endswith("conll2003")
    assert (on_disk["formulation"], on_disk["attention"]) == ("token_classification", "causal")
    assert [stage["name"] for stage in on_disk["stages"]] == ["train"]
    # One predictions line per dev and test sentence, with the sentence's gold tags.
    lines = (path.parent / "predictions.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["split"] for r in rows].count("dev") == 32 and [r["split"] for r in rows].count("test") == 32
    assert all(len(r["gold"]) == len(r["prediction"]) for r in rows)
    assert on_disk["config"]["task"]["max_train_examples"] == 48
    # Only trainable tensors are checkpointed (LoRA + head), not the frozen backbone.
    checkpoint = tmp_path / "outputs" / "default" / result.run_id / "train" / "checkpoints" / "best.ckpt"
    assert checkpoint.exists() and checkpoint.stat().st_size < 200_000


def test_same_seed_same_scores_and_rerun_is_skipped(tmp_path, data_root):
    first = _run(tmp_path / "a")
    second = _run(tmp_path / "b")
    assert first.run_id == second.run_id  # the id hashes the config, not where results go
    assert first.metrics["dev"]["span_f1"] == second.metrics["dev"]["span_f1"]
    assert first.metrics["test"] == second.metrics["test"]
    record_path = tmp_path / "a" / "results" / "default" / first.run_id / "result.json"
    before = record_path.read_text()
    again = _run(tmp_path / "a")
    assert again.status == "completed" and record_path.read_text() == before  # skipped, not redone


def test_other_seed_is_another_run(tmp_path, data_root):
    one = _run(tmp_path, extra=["seed=1"])
    two = _run(tmp_path, extra=["seed=2"])
    assert one.run_id != two.run_id


def test_failure_is_recorded_not_lost(tmp_path, data_root):
    result = _run(tmp_path, extra=["method.target_modules=[no_such_module]"])
    assert result.status == "failed"
    record = read_result(tmp_path / "results" / "default" / result.run_id / "result.json")
    assert record.error["type"] == "ValueError"
    assert "method.target_modules" in record.error["message"]
    assert "Traceback" in record.error["traceback"]


def test_missing_data_is_a_recorded_failure_naming_the_file(tmp_path):
    result = _run(tmp_path, extra=[f"paths.data_dir={tmp_path / 'nowhere'}"])
    assert result.status == "failed"
    assert "nowhere" in result.error["message"]


@pytest.mark.parametrize("model", ["tiny_mistral", "tiny_qwen2"])
def test_other_families_run(tmp_path, data_root, model):
    result = _run(tmp_path, model=model, train=16, evaluate=16)
    assert result.status == "completed", result.error


def test_encoder_baseline_runs_with_full_fine_tuning(tmp_path, data_root):
    result = _run(tmp_path, model="minilm_l6", train=16, evaluate=16, extra=["method=full"])
    assert result.status == "completed", result.error
    assert result.cost.trainable_params == result.cost.total_params


def test_wandb_offline_run_files_land_in_the_run_directory(tmp_path, data_root):
    result = _run(tmp_path, train=16, evaluate=16, extra=["logger=default"])
    assert result.status == "completed", result.error
    wandb_dir = tmp_path / "outputs" / "default" / result.run_id / "wandb"
    runs = list(wandb_dir.glob("offline-run-*"))
    assert runs, f"no offline W&B run under {wandb_dir}"
    assert (tmp_path / "outputs" / "default" / result.run_id / "csv" / "version_0" / "metrics.csv").exists()
    # A sampled per-example predictions table for error analysis (16 test sentences: all of them).
    tables = list(runs[0].rglob("predictions_*.table.json"))
    assert tables, "no per-example predictions table in the W&B run"
    table = json.loads(tables[0].read_text())
    assert table["columns"] == ["id", "gold", "prediction", "score"]
    assert len(table["data"]) == 16


def test_search_trial_scores_dev_and_never_reads_test(tmp_path, data_root):
    result = _run(tmp_path, extra=["evaluate_test=false"])
    assert result.status == "completed", result.error
    assert set(result.metrics) == {"dev"} and 0.0 <= result.metrics["dev"]["span_f1"] <= 1.0
    rerun = _run(tmp_path, extra=["evaluate_test=true"])  # the selected trial, once with test
    assert rerun.run_id != result.run_id and set(rerun.metrics) == {"dev", "test"}
    assert rerun.metrics["dev"]["span_f1"] == result.metrics["dev"]["span_f1"]


def test_evaluate_test_must_be_a_boolean(tmp_path, data_root):
    result = _run(tmp_path, extra=["evaluate_test=maybe"])
    assert result.status == "failed" and "evaluate_test" in result.error["message"]


def test_changed_data_is_a_new_run_never_the_old_record(tmp_path, data_root):
    """Same config, other files under the data root: a new run id, not `skip` with old scores."""
    import shutil

    for name in ("a", "b"):
        shutil.copytree(data_root / "rest14", tmp_path / name / "rest14")
    test_file = tmp_path / "b" / "rest14" / "test.txt"
    lines = test_file.read_text().split("\n")
    lines[0] = lines[0].replace("=O", "=T-POS", 1)  # one gold tag differs
    test_file.write_text("\n".join(lines))

    def run_on(name):
        extra = ["task=rest14_absa", f"paths.data_dir={tmp_path / name}"]
        return _run(tmp_path / "out", extra=extra, train=8, evaluate=8)

    first, changed = run_on("a"), run_on("b")
    assert first.status == changed.status == "completed", (first.error, changed.error)
    assert changed.run_id != first.run_id and changed.data_hash != first.data_hash
    assert run_on("a").run_id == first.run_id  # the same data is still the same run (skipped)
    missing = _run(tmp_path / "out", extra=["task=rest14_absa", f"paths.data_dir={tmp_path / 'gone'}"], train=8, evaluate=8)
    assert missing.status == "failed" and "gone" in missing.error["message"]  # never the old record


def test_a_failed_run_closes_its_wandb_run(tmp_path, data_root):
    """A sweep's next job in the same process must not log into the failed job's W&B run."""
    import wandb

    result = _run(tmp_path, train=16, evaluate=16, extra=["logger=default", "method.target_modules=[no_such_module]"])
    assert result.status == "failed"
    assert list((tmp_path / "outputs" / "default" / result.run_id / "wandb").glob("offline-run-*"))  # it was opened
    assert wandb.run is None


def test_a_slurm_time_out_is_an_interruption_not_a_failure(tmp_path, data_root, monkeypatch):
    """submitit's last time-out raises inside the job: no failed record, so the rerun resumes."""
    from submitit.core.utils import UncompletedJobError

    import harness.run

    def timed_out(*args, **kwargs):
        raise UncompletedJobError("Job not requeued because: timed-out too many times.")

    monkeypatch.setattr(harness.run, "_train_and_evaluate", timed_out)
    with pytest.raises(UncompletedJobError):
        _run(tmp_path)
    assert not list((tmp_path / "results").rglob("result.json"))
    monkeypatch.undo()
    assert _run(tmp_path).status == "completed"
