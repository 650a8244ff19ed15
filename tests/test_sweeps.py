"""Sweeps through Hydra's launchers, as a user runs them: every sweep file composes; a job that
fails is recorded and the others complete; submitit's local launcher runs a two-job sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results.report import main as report_main

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))


def _harness(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    tiny = [
        "model=tiny_llama", "budget=full", "logger=csv", "trainer.progress_bar=false", "task.max_train_examples=16",
        "task.max_eval_examples=16", f"paths.results_dir={tmp_path / 'results'}",
        f"paths.work_dir={tmp_path / 'outputs'}", f"hydra.sweep.dir={tmp_path / 'multirun'}",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args, *tiny], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def _records(tmp_path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "results").rglob("result.json"))]


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_file_composes(name):
    result = subprocess.run(
        [sys.executable, "-m", "harness", "-cd", "sweeps", "-cn", name, "--cfg", "job"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sweep:" in result.stdout


def test_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path, data_root):
    done = _harness(["-m", "method.target_modules=[q_proj],[no_such_module]"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    statuses = sorted(r["status"] for r in _records(tmp_path))
    assert statuses == ["completed", "failed"]
    assert report_main([str(tmp_path / "results"), "--no-plots"]) == 0
    failures = (tmp_path / "results" / "report" / "failed_runs.md").read_text()
    assert "no_such_module" in failures


def test_submitit_local_launcher_runs_a_two_job_sweep(tmp_path, data_root):
    done = _harness(["-m", "hydra/launcher=local_submitit", "seed=1,2"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    records = _records(tmp_path)
    assert sorted(r["seed"] for r in records) == [1, 2]
    assert all(r["status"] == "completed" for r in records)
    assert list((tmp_path / "multirun").rglob("*_submitted.pkl")), "jobs did not go through submitit"


def test_single_run_failure_exits_non_zero_with_one_line(tmp_path, data_root):
    done = _harness(["method.target_modules=[no_such_module]"], tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "method.target_modules" in errors[0]
