"""`trainer.precision: auto` becomes what the hardware computes natively, before the run's id, and
the record says which precision ran and why."""

from __future__ import annotations

import pytest

import harness.formulations.precision as precision
from harness.formulations.precision import resolve_precision
from harness.run import run
from tests.composing import compose_config, quick_overrides


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_follows_the_hardware(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "native_bf16", lambda: (native, "a test machine"))
    assert resolve_precision("auto") == (expected, "auto: a test machine")
    assert resolve_precision("32-true") == ("32-true", "as configured")  # an explicit choice is kept


def test_an_unknown_precision_is_refused_by_key():
    with pytest.raises(ValueError, match="trainer.precision"):
        resolve_precision("fp8")


def test_the_record_holds_the_resolved_precision_and_its_id_depends_on_it(tmp_path, data_root, monkeypatch):
    overrides = [*quick_overrides(tmp_path, train=16, evaluate=8), "trainer.precision=auto", "trainer.max_steps=1"]
    monkeypatch.setattr(precision, "native_bf16", lambda: (True, "a bf16 machine"))
    bf16 = run(compose_config(overrides))
    assert bf16.status == "completed", bf16.error
    assert bf16.config["trainer"]["precision"] == "bf16-mixed"
    assert bf16.precision == "bf16-mixed (auto: a bf16 machine)"
    monkeypatch.setattr(precision, "native_bf16", lambda: (False, "an fp32 machine"))
    fp32 = run(compose_config(overrides))
    assert fp32.status == "completed", fp32.error
    assert fp32.config["trainer"]["precision"] == "32-true" and fp32.run_id != bf16.run_id
