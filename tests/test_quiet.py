"""The screen keeps the harness's own output: listed third-party notices and deprecations are
dropped by their exact message, and anything else (a new or a real warning) still shows."""

from __future__ import annotations

import logging
import warnings

from harness.quiet import (
    HARMLESS_WARNING_TEMPLATES, HARMLESS_WARNINGS, LIGHTNING_LOGGERS, LIGHTNING_NOTICES, quiet_third_party_output,
)  # fmt: skip


def test_listed_deprecations_are_dropped_and_others_kept():
    quiet_third_party_output()
    category, message = HARMLESS_WARNINGS[0]
    with warnings.catch_warnings(record=True) as caught:
        # catch_warnings(record=True) keeps the filters installed before it
        warnings.warn(message, category)
        warnings.warn(message + " (and more)", category)  # not the exact message: shown
        warnings.warn("some other deprecation", FutureWarning)
    assert [str(w.message) for w in caught] == [message + " (and more)", "some other deprecation"]


def test_lightning_tip_is_dropped_and_other_notices_kept(caplog):
    quiet_third_party_output()
    logger = logging.getLogger(LIGHTNING_LOGGERS[0])
    tip = next(notice for notice in LIGHTNING_NOTICES if notice.startswith("💡 Tip"))
    with caplog.at_level(logging.INFO, logger=LIGHTNING_LOGGERS[0]):
        logger.info(tip)
        logger.info("GPU available: True (cuda), used: True")  # not listed: shown
    assert [record.getMessage() for record in caplog.records] == ["GPU available: True (cuda), used: True"]


def test_a_template_drops_its_message_whatever_the_quoted_command_and_nothing_longer(monkeypatch):
    monkeypatch.setattr("harness.quiet._installed", False)  # pytest restored the filters after earlier tests
    quiet_third_party_output()
    category, start, end = HARMLESS_WARNING_TEMPLATES[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn(start + "srun python -m harness -m seed=1,2" + end, category)
        warnings.warn(start + "srun python" + end + " and a real problem", category)  # not the message: shown
    assert [str(w.message) for w in caught] == [start + "srun python" + end + " and a real problem"]
