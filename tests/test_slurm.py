"""Sweeps on a real SLURM cluster (one node, this machine; tests/slurm_cluster.py), launched as a
user launches them: `python -m harness -m hydra/launcher=slurm_cpu ...` from a working folder under
tmp_path with SLURM_CONF exported. The jobs run the launching python (submitit passes
sys.executable) with the launching environment (sbatch exports it), in that folder (sacct's WorkDir
says so), and write their records and checkpoints under tmp_path.

- a two-job sweep completes, each job writes its record and the report reads both;
- a job whose run fails on the cluster is recorded as failed and the other completes;
- a job cancelled with `scancel` mid-training (once its first checkpoint exists) leaves no record;
  rerunning the same sweep command resumes it from that checkpoint and ends with the metrics and
  the trained weights (bit for bit) of the same run left uninterrupted in the same sweep.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from harness.results.report import main as report_main
from tests.slurm_cluster import SlurmCluster, slurm_cluster  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

LAUNCHER = [
    "hydra/launcher=slurm_cpu",
    "hydra.launcher.cpus_per_task=1",  # both jobs of a sweep at once on a 2-core node
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=15",
]
TINY = [
    "model=tiny_llama", "budget=full", "trainer.precision=32-true", "logger=csv",
    "trainer.progress_bar=false", "task.max_train_examples=16", "task.max_eval_examples=8",
    "trainer.max_epochs=1", "trainer.batch_size=8",
]  # fmt: skip
SACCT_FIELDS = ("JobID", "JobName", "Partition", "AllocCPUS", "State", "ExitCode", "WorkDir")


@pytest.fixture(autouse=True)
def _jobs_read_the_data_root(data_root, monkeypatch):
    """The jobs inherit the launching environment: name the data root the fixture found there, so
    that they read it also when HARNESS_DATA_DIR was unset (../shared/data found beside the
    checkout), instead of falling back to the Hub."""
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_root))


def _command(tmp_path: Path, args: list[str]) -> list[str]:
    paths = [f"paths.results_dir={tmp_path / 'results'}", f"paths.work_dir={tmp_path / 'outputs'}"]
    return [
        sys.executable, "-m", "harness", "-m", *LAUNCHER, *TINY, *paths, *args,
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
    ]  # fmt: skip


def _launch(cluster: SlurmCluster, tmp_path: Path, command: list[str], log: str = "launcher.log") -> subprocess.Popen:
    """The sweep's launcher process, started in tmp_path (the jobs' working folder); output to `log`."""
    with open(tmp_path / log, "w") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=cluster.env(), stdout=out, stderr=subprocess.STDOUT)
    process.log = tmp_path / log  # type: ignore[attr-defined]
    return process


def _finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    """Waits for the launcher (killing it past `timeout`); its exit code and output."""
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    return code, process.log.read_text()  # type: ignore[attr-defined]


def _sweep(cluster: SlurmCluster, tmp_path: Path, args: list[str]) -> tuple[int, str, list[str]]:
    """Runs a sweep to its end; returns its exit code, its output and the squeue lines seen meanwhile."""
    process = _launch(cluster, tmp_path, _command(tmp_path, args))
    seen: dict[tuple[str, str], str] = {}  # the first line squeue showed for each job and state
    while process.poll() is None:
        lines = cluster.squeue()
        for line in lines[1:]:
            job, *_, state = line.split()[:5]
            seen.setdefault((job, state), line)
        time.sleep(0.5)
    code, output = _finish(process)
    return code, output, list(seen.values())


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.rglob("result.json"))]


SETTLED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED")


def _jobs_in(cluster: SlurmCluster, folder: Path, wait: float = 60) -> list[dict[str, str]]:
    """sacct's rows for the jobs that ran in `folder` (the sessions's other tests ran elsewhere),
    once every one has a final state: the launcher returns when it sees the jobs' result files,
    which can be before the accounting database has recorded their end (COMPLETING, RUNNING)."""
    deadline = time.monotonic() + wait
    while True:
        rows = [row for row in cluster.sacct(*SACCT_FIELDS) if row["WorkDir"] == str(folder)]
        if all(row["State"].split()[0] in SETTLED for row in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def test_two_job_sweep_runs_on_slurm_and_the_report_reads_it(slurm_cluster, tmp_path, data_root):
    code, output, seen = _sweep(slurm_cluster, tmp_path, ["seed=1,2"])
    assert code == 0, output[-3000:]

    # Two array tasks of one submission ran on the cluster, in tmp_path, and completed.
    jobs = _jobs_in(slurm_cluster, tmp_path)
    assert len(jobs) == 2, (jobs, slurm_cluster.logs())
    assert {row["JobID"].split("_")[1] for row in jobs} == {"0", "1"}
    assert all(row["State"] == "COMPLETED" and row["ExitCode"] == "0:0" for row in jobs), jobs
    assert all(row["Partition"] == "cpu" and row["AllocCPUS"] == "1" for row in jobs), jobs
    assert sum(" R " in line for line in seen) == 2, seen  # squeue showed both running
    print("\nsqueue while the sweep ran (first line of each job and state):\n" + "\n".join(seen))
    print("sacct after it:\n" + "\n".join("|".join(row.values()) for row in jobs))

    records = _records(tmp_path / "results")
    assert sorted(r["seed"] for r in records) == [1, 2]
    assert all(r["status"] == "completed" for r in records), [r["error"] for r in records]
    assert len(list((tmp_path / "multirun" / ".submitit").rglob("*_result.pkl"))) == 2

    assert report_main([str(tmp_path / "results"), "--no-plots"]) == 0
    board = (tmp_path / "results" / "report" / "leaderboard.csv").read_text().splitlines()
    header, (row,) = board[0].split(","), board[1:]
    assert dict(zip(header, row.split(",")))["seeds"] == "1 2"


def test_failed_job_on_slurm_is_recorded_and_the_other_completes(slurm_cluster, tmp_path, data_root):
    code, output, _ = _sweep(slurm_cluster, tmp_path, ["method.target_modules=[q_proj],[no_such_module]"])
    assert code == 0, output[-3000:]  # the sweep goes on: the failure is in the record
    records = _records(tmp_path / "results")
    assert sorted(r["status"] for r in records) == ["completed", "failed"]
    (failed,) = [r for r in records if r["status"] == "failed"]
    assert "no_such_module" in failed["error"]["message"]
    assert len(_jobs_in(slurm_cluster, tmp_path)) == 2

    assert report_main([str(tmp_path / "results"), "--no-plots"]) == 0
    assert "no_such_module" in (tmp_path / "results" / "report" / "failed_runs.md").read_text()


# 64 examples in batches of 4: 16 optimizer steps, a resume checkpoint every 2. The job is cancelled
# as soon as its first checkpoint exists; Lightning stops it at the end of the step that the SIGTERM
# lands in (scancel's KillWait SIGKILL comes later), well before the end of the epoch.
RESUME = [
    "task.max_train_examples=64", "trainer.batch_size=4", "trainer.checkpoint_every_n_steps=2",
    "trainer.dropout=0.3",  # dropout masks make the restored RNG state matter
]  # fmt: skip


def _trained_tensors(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]


def _wait_for(what: str, find, process: subprocess.Popen, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := find():
            return found
        assert process.poll() is None, f"the sweep ended before {what}"
        time.sleep(0.1)
    raise AssertionError(f"no {what} after {timeout:.0f} s")


def test_cancelled_job_resumes_from_its_checkpoint_when_the_sweep_is_rerun(slurm_cluster, tmp_path, data_root):
    # One sweep, two jobs with the same configuration (so the same run id) in two folders (paths
    # are no part of a run's identity): job 0 runs uninterrupted, the reference; job 1 is cancelled.
    reference, cancelled = tmp_path / "reference", tmp_path / "cancelled"
    args = [
        *RESUME, f"paths.results_dir={reference / 'results'},{cancelled / 'results'}",
        "paths.work_dir=${.results_dir}/../outputs",
    ]  # fmt: skip
    command = _command(tmp_path, args)
    process = _launch(slurm_cluster, tmp_path, command)
    submitit = tmp_path / "multirun" / ".submitit"
    (task_folder,) = _wait_for("submission", lambda: list(submitit.glob("*_1")), process)
    job_id = task_folder.name  # <array job id>_1
    _wait_for("checkpoint", lambda: list(cancelled.glob("outputs/default/*/train/checkpoints/resume.ckpt")), process)
    slurm_cluster.command("scancel", job_id)
    code, output = _finish(process)

    # The launcher waited for the reference, then reported the cancelled job and exited non-zero.
    assert code != 0 and "CANCELLED" in output, output[-3000:]
    states = {row["JobID"]: row["State"] for row in _jobs_in(slurm_cluster, tmp_path)}
    assert states[job_id].startswith("CANCELLED"), states
    (first,) = _records(reference / "results")
    assert first["status"] == "completed", first["error"]
    assert not _records(cancelled / "results"), "the cancelled job finished before it was cancelled"
    reference_record = next((reference / "results").rglob("result.json"))
    reference_written = reference_record.stat().st_mtime_ns

    # The same command again: the completed run is skipped, the cancelled one resumes.
    process = _launch(slurm_cluster, tmp_path, command, log="rerun.log")
    code, output = _finish(process)
    assert code == 0, output[-3000:]
    assert reference_record.stat().st_mtime_ns == reference_written  # skipped, not rerun
    (resumed,) = _records(cancelled / "results")
    assert resumed["status"] == "completed", resumed["error"]
    assert resumed["run_id"] == first["run_id"]
    (stage,) = resumed["stages"]
    assert stage["resumed_from"] and Path(stage["resumed_from"]).name == "resume.ckpt", stage["resumed_from"]
    assert (stage["attempts"], resumed["cost"]["attempts"]) == (2, 2)
    assert stage["optimizer_steps"] == first["stages"][0]["optimizer_steps"] == 16

    # The same result as the uninterrupted run: metrics, and the trained weights bit for bit.
    assert resumed["metrics"]["dev"] == first["metrics"]["dev"]
    assert resumed["metrics"]["test"] == first["metrics"]["test"]
    run_id = first["run_id"]
    for name in ("last.ckpt", "best.ckpt"):
        expected = _trained_tensors(reference / "outputs" / "default" / run_id / "train" / "checkpoints" / name)
        actual = _trained_tensors(cancelled / "outputs" / "default" / run_id / "train" / "checkpoints" / name)
        assert expected and set(actual) == set(expected)
        assert not [key for key in expected if not torch.equal(actual[key], expected[key])], name
