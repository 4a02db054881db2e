# Locus: `make` builds the compiler and compiles every bundled spec, printing one line per model;
# `make test` runs the whole test suite (what CI runs).
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift
LOCUS := .build/release/locus
SPECS := $(wildcard specs/*.locus)

.PHONY: all deps build test kernel-tests golden fixtures clean

all: build
	$(LOCUS) summary $(SPECS)

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product locus

# Swift tests (parser, IR, passes, kernels against the reference, end to end against PyTorch
# fixtures), then the C kernel tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test: deps
	$(SWIFT) build --product locus
	$(SWIFT) test
	$(MAKE) kernel-tests

kernel-tests: deps
	$(MAKE) -C templates/tests check

# Re-record the golden IR dumps and emitted C after an intended change; review the diff.
golden:
	LOCUS_RECORD_GOLDEN=1 $(SWIFT) test --filter Golden || true
	git diff --stat -- Tests

# Regenerate the PyTorch fixtures (needs PyTorch, see scripts/reference/README.md; CI never does):
#   make fixtures PYTHON=/path/to/venv/bin/python
PYTHON ?= python3
fixtures:
	cd scripts/reference && $(PYTHON) make_fixtures.py

clean:
	rm -rf .build out
