"""The sweep scripts (`sweeps/*.sh`) run for hours; a typo in one should fail here, not an hour in.

Each script runs under HARNESS_SWEEP_DRY_RUN (scripts/env.sh, scripts/dry_run_python.sh), which records
every `python -m harness` and `python -m harness.bench` call instead of running it. Each recorded
harness call is expanded as Hydra's basic sweeper expands a multirun, and every job is composed from
conf/ and its task, model, method, attention, formulation and trainer built through the schemas a
run checks at start: an unknown key, choice or value fails the test with the script and the job.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from harness.bench.__main__ import BENCHMARKS
from harness.config import TrainerConfig, checked_dataclass, instantiate_group

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "sweeps").glob("*.sh"))
GROUPS = ("task", "model", "method", "attention", "formulation")


def recorded_calls(script: str, tmp_path: Path) -> list[list[str]]:
    record = tmp_path / "calls.jsonl"
    record.touch()
    env = {**os.environ, "HARNESS_SWEEP_DRY_RUN": str(record), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(["bash", str(ROOT / "sweeps" / script)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{script} failed in a dry run:\n{done.stderr[-2000:]}"
    return [json.loads(line) for line in record.read_text().splitlines()]


def jobs(arguments: list[str]) -> list[list[str]]:
    """The override lists Hydra's basic sweeper would launch for these command-line arguments."""
    multirun = arguments[:1] == ["-m"]
    overrides = OverridesParser.create().parse_overrides(arguments[1:] if multirun else arguments)
    if not multirun:
        return [arguments]
    return [job for batch in BasicSweeper.split_arguments(overrides, max_batch_size=None) for job in batch]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_run_of_a_sweep_script_composes(script, tmp_path):
    calls = recorded_calls(script, tmp_path)
    runs = [jobs(call[2:]) for call in calls if call[1] == "harness"]
    assert runs, f"{script} launches no harness run"
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for job in (job for batch in runs for job in batch):
            try:
                cfg = compose("config", overrides=job)
                for group in GROUPS:
                    instantiate_group(cfg.get(group), group)
                checked_dataclass(TrainerConfig, cfg.get("trainer"), "trainer")
            except Exception as error:  # name the script and the job, whatever failed
                pytest.fail(f"{script}: {' '.join(job)}: {type(error).__name__}: {error}")
    for call in calls:
        if call[1] == "harness.bench":
            assert call[2] in BENCHMARKS, f"{script}: no benchmark named {call[2]!r}"


def test_a_misspelt_key_fails_the_dry_run_check(tmp_path):
    """The check itself can fail: the same composition refuses a key the method does not have."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        with pytest.raises(Exception, match="num_virtual_token"):
            for job in jobs(["-m", "method=prefix_tuning", "method.num_virtual_token=16,64"]):
                compose("config", overrides=job)
