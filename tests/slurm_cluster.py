"""A real one-node SLURM cluster for tests (tests/test_slurm.py), started and stopped once a session.

`scripts/slurm_local.sh start DIR` (the script the README gives users) starts munged, mariadbd,
slurmdbd, slurmctld and slurmd under a temporary folder, with their own config, sockets, free
ports and pid files, so nothing of this machine's own SLURM or munge (if any) is used or touched.
At the end of the session `slurm_local.sh stop DIR` cancels the cluster's jobs and stops each
daemon by its pid file; the fixture then checks that no process of the cluster is left (every
daemon, job step and job carries SLURM_CONF=DIR/slurm.conf in its environment, which is how they
are found: by that exact value, never by a process name), kills any straggler by its pid and fails
the session if there was one. Without root or without the packages (`bash scripts/slurm_packages.sh`;
.ci/run installs them) the tests that use the fixture are skipped, saying which.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
TOOLS = (
    "munged", "mariadbd", "mariadb-install-db", "mariadb", "slurmdbd", "slurmctld", "slurmd",
    "sbatch", "squeue", "sacct", "sacctmgr", "scancel", "sinfo",
)  # fmt: skip


def why_unavailable() -> str | None:
    """Why a local cluster cannot start here, or None when it can."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"SLURM packages not installed ({', '.join(missing)} not found): "
            "`bash scripts/slurm_packages.sh` installs them as root (.ci/run does)"
        )
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmd starts jobs as their user)"
    return None


@dataclass(frozen=True)
class SlurmCluster:
    """A running cluster: its folder (configs, logs, state) and its client commands."""

    folder: Path

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    def env(self) -> dict[str, str]:
        """This process's environment plus SLURM_CONF: what a user's shell has after `export`."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *args: str) -> str:
        """Runs a SLURM client command (squeue, sacct, scancel, ...) against this cluster."""
        done = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def squeue(self) -> list[str]:
        return self.command("squeue").splitlines()

    def sacct(self, *fields: str) -> list[dict[str, str]]:
        """One row per job (array tasks apart, job steps left out) since the cluster started."""
        out = self.command(
            "sacct", "--allusers", "--allocations", "--parsable2", "--starttime=2000-01-01",
            "--format=" + ",".join(fields),
        )  # fmt: skip
        header, *lines = out.splitlines()
        names = header.split("|")
        return [dict(zip(names, line.split("|"))) for line in lines]

    def logs(self) -> str:
        """The daemons' log tails, for a failure message."""
        parts = []
        for log in sorted((self.folder / "log").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"==> {log} <==\n" + "\n".join(lines))
        return "\n".join(parts)


def cluster_processes(conf: Path) -> list[int]:
    """Pids of the processes whose environment holds SLURM_CONF=conf (daemons, steps, jobs)."""
    wanted = f"SLURM_CONF={conf}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or a kernel thread
            continue
        if wanted in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _stragglers(conf: Path, wait_s: float) -> list[int]:
    deadline = time.monotonic() + wait_s
    while (left := cluster_processes(conf)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running one-node cluster for the whole session (about 10 s to start, 5 s to stop)."""
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slurm")
    cluster = SlurmCluster(folder)
    start = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        if start.returncode != 0:  # the script has stopped what it started
            pytest.fail(f"the local SLURM cluster did not start:\n{start.stderr}\n{cluster.logs()}")
        yield cluster
    finally:
        stop = subprocess.run(
            ["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        left = _stragglers(cluster.conf, wait_s=20)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert stop.returncode == 0, f"slurm_local.sh stop failed: {stop.stderr}"
        assert not left, f"processes of the local SLURM cluster outlived its stop (killed): {left}"
