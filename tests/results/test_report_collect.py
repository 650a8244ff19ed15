"""Failed and incomplete runs are found, listed apart, and never averaged."""

from __future__ import annotations

from harness.results.collect import collect
from harness.results.report import main

SWEEP = "fixture_sweep"  # the sweep name the fixture records use (conftest.py)


def test_completed_failed_and_incomplete_are_told_apart(results_dir):
    collection = collect(results_dir)
    assert len(collection.completed) == 6
    assert {(r.method, r.seed) for r in collection.completed} == {(m, s) for m in ("lora", "ia3") for s in (1, 2, 3)}
    (failed,) = collection.failed
    assert (failed.method, failed.seed, failed.reason, failed.message) == (
        "lora", 4, "OutOfMemoryError", "CUDA out of memory"
    )
    (incomplete,) = collection.incomplete
    assert incomplete.run_id == "0123456789abcdef" and not incomplete.has_record


def test_unreadable_and_unscored_records_are_incomplete(tmp_path, make_record, write_record):
    root = tmp_path / "results"
    write_record(root, make_record("lora", 1, 0.8))
    broken = root / SWEEP / "run-with-garbage"
    broken.mkdir()
    (broken / "result.json").write_text("{ not json")
    write_record(root, make_record("lora", 2, None))  # completed, but no test score
    collection = collect(root)
    assert len(collection.completed) == 1
    reasons = sorted(run.reason for run in collection.incomplete)
    assert reasons == ["completed, but no test score for primary metric 'span_f1'", "unreadable result.json"]


def test_the_report_folder_and_hidden_folders_are_not_runs(results_dir):
    (results_dir / SWEEP / ".hydra").mkdir()
    (results_dir / "report" / "conll2003").mkdir(parents=True)
    collection = collect(results_dir, exclude=[results_dir / "report"])
    assert len(collection.incomplete) == 1


def test_a_failure_later_completed_elsewhere_is_not_listed(tmp_path, make_record, write_record):
    root = tmp_path / "results"
    done = make_record("lora", 1, 0.8)
    failed = make_record("lora", 1, None, status="failed", error={"type": "RuntimeError", "message": "x"})
    failed.sweep = "older_sweep"
    write_record(root, done)
    write_record(root, failed)
    collection = collect(root)
    assert len(collection.completed) == 1 and collection.failed == []
    assert any(f"failed run {failed.run_id} also completed elsewhere" in note for note in collection.notes)


def test_a_report_written_inside_a_sweep_is_not_a_run(results_dir):
    assert main([str(results_dir / SWEEP), "--no-plots"]) == 0  # report into <sweep>/report
    assert len(collect(results_dir).incomplete) == 1  # read from the root, that folder is not a run
