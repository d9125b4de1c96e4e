PYTHON ?= python

.PHONY: test reliability

# The CI tier (README test command runs the same thing).
test:
	$(PYTHON) -m pytest

# The full fault-injection counts: kill -9 x200, power cuts x1000, 20,000-file bursts, 100,000
# fuzzed images. Long; run on a quiet machine and read the printed figures (docs/RELIABILITY.md).
reliability:
	$(PYTHON) -m pytest -m slow -s tests/
