"""`python -m mustelid` runs the CLI (what tests and service units use)."""

import sys

from mustelid.cli import main

sys.exit(main())
