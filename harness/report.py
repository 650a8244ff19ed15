"""`python -m harness.report RESULTS_DIR`: the report over result records (see harness.results.report)."""

import sys

from harness.results.report import main

if __name__ == "__main__":
    sys.exit(main())
