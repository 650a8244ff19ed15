"""Keep a run's screen to the harness's own progress and summary: third-party tips, availability
notices, known-harmless deprecation warnings and false alarms are dropped by their EXACT message. Never all
warnings: anything not listed here, new messages included, still shows.

Called by the Hydra task function (`run.run_from_hydra`), so it applies in every process that runs a
job (basic, joblib and submitit launchers alike). Hand-written because no library filters another
library's log records and warnings by message; it is a list and two filters.
"""

from __future__ import annotations

import logging
import re
import warnings

# (category, exact message): deprecations inside our dependencies that a user cannot act on.
HARMLESS_WARNINGS = (
    # torch 2.13 deprecates LeafSpec, which Lightning's _pytree still constructs on every batch.
    (FutureWarning, "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) and "
                    "treespec.is_leaf()` instead."),
    # peft asks transformers' deprecated alias; transformers warns about its own alias.
    (FutureWarning, "`is_gradient_checkpointing` is deprecated and will be removed in v6. Use "
                    "`is_activation_checkpointing` instead."),
    # A false alarm here: the harness's batch sampler skips the batches a mid-epoch checkpoint already
    # trained (formulations/batching.py; tests/test_resume.py compares the resumed weights).
    (UserWarning, "You're resuming from a checkpoint that ended before the epoch ended and your dataloader is"
                  " not resumable. This can cause unreliable results if further training is done."
                  " Consider using an end-of-epoch checkpoint or make your dataloader resumable by implementing"
                  " the `state_dict` / `load_state_dict` interface."),
)  # fmt: skip

# (category, fixed start, fixed end): messages that quote the command line between the two parts.
HARMLESS_WARNING_TEMPLATES = (
    # On any machine with SLURM installed, every run outside a SLURM job; a harness job is one process
    # (multi-process runs on SLURM are started by submitit through srun, which silences it).
    (UserWarning, "The `srun` command is available on your system but is not used. HINT: If your intention is "
                  "to run Lightning on SLURM, prepend your python command with `srun` like so: ", " ..."),
)  # fmt: skip

# Lightning's info-level notices: a product tip, and what the record already says (device, steps).
LIGHTNING_NOTICES = frozenset({
    "💡 Tip: For seamless cloud logging and experiment tracking, try installing "
    "[litlogger](https://pypi.org/project/litlogger/) to enable LitLogger, which logs metrics and artifacts "
    "automatically to the Lightning Experiments platform.",
    "GPU available: False, used: False",
    "TPU available: False, using: 0 TPU cores",
    "Loading `train_dataloader` to estimate number of stepping batches.",
    "Using bfloat16 Automatic Mixed Precision (AMP)",  # the summary and the record name the precision
})  # fmt: skip
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropExactMessages(logging.Filter):
    def __init__(self, messages: frozenset[str]) -> None:
        super().__init__()
        self.messages = messages

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.messages


_installed = False


def quiet_third_party_output() -> None:
    """Install the filters (once per process)."""
    global _installed
    if _installed:
        return
    for category, message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message) + r"\Z", category=category)
    for category, start, end in HARMLESS_WARNING_TEMPLATES:
        warnings.filterwarnings("ignore", message=re.escape(start) + ".*" + re.escape(end) + r"\Z", category=category)
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).addFilter(_DropExactMessages(LIGHTNING_NOTICES))
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars: the harness shows its own progress
    _installed = True
