# Locus: `make` builds the compiler and trains the bundled demo (LocalViT on Fashion-MNIST) in
# generated code, reporting test accuracy; `make test` runs the whole test suite (what CI runs).
export PATH := /opt/swift/usr/bin:$(PATH)
SWIFT ?= swift
LOCUS := .build/release/locus
SPECS := $(wildcard specs/*.locus)

EPOCHS ?= 3
RUN    ?= runs/fmnist

.PHONY: all demo summary fashion-app c-demo generated deps build test kernel-tests golden fixtures train-fixtures grad-fixtures clean

all: demo

# The demo: `make EPOCHS=10` for a longer run. A second `make` continues the run in $(RUN) if it
# was interrupted and retrains nothing if it is complete (raise EPOCHS to continue a finished one
# in a new RUN directory).
demo: build
	if [ -d $(RUN) ]; then $(LOCUS) train specs/localvit_fmnist.locus --epochs $(EPOCHS) --out $(RUN) --resume; \
	else $(LOCUS) train specs/localvit_fmnist.locus --epochs $(EPOCHS) --out $(RUN); fi

# The sample app (Examples/FashionApp): writes the LocalViTFMNIST Swift package, builds the app on
# it and classifies the Fashion-MNIST test set with the demo's weights (trained by `make` first when
# missing), then `locus eval` on the same weights: the two accuracies are the same.
WEIGHTS ?= $(RUN)/weights.safetensors
fashion-app: build
	[ -f $(WEIGHTS) ] || $(MAKE) demo
	$(LOCUS) compile specs/localvit_fmnist.locus --emit swift-package --batch 500 -o Examples/FashionApp/Gen/LocalViTFMNIST
	cd Examples/FashionApp && $(SWIFT) run -c release FashionApp --weights $(abspath $(WEIGHTS))
	$(LOCUS) eval specs/localvit_fmnist.locus --weights $(WEIGHTS)

# Every bundled spec compiled: parameters, FLOPs, arena, build time, latency.
summary: build
	$(LOCUS) summary $(SPECS)

# The same from C (Examples/c-demo): compiled with --emit c-library, linked through pkg-config,
# classifying the test set with the same weights, then `locus eval` on them.
c-demo: build
	[ -f $(WEIGHTS) ] || $(MAKE) demo
	$(MAKE) -C Examples/c-demo run WEIGHTS=$(abspath $(WEIGHTS))
	$(LOCUS) eval specs/localvit_fmnist.locus --weights $(WEIGHTS)

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product locus

# Swift tests (parser, IR, passes, kernels against the reference, end to end against PyTorch
# fixtures), then the C kernel tests under AddressSanitizer and UndefinedBehaviorSanitizer, then
# the benchmark scripts' helpers that need no PyTorch (scripts/reference/tests).
test: deps
	$(SWIFT) build --product locus
	$(SWIFT) test
	$(MAKE) kernel-tests
	$(PYTHON) -m unittest discover -s scripts/reference/tests

kernel-tests: deps
	$(MAKE) -C templates/tests check

# generated/: the C of every bundled spec (--emit c-sources), committed; GeneratedSourcesTests fails
# when the compiler emits anything else. Rewrite them after an intended change and review the diff.
generated: build
	for s in $(SPECS); do $(LOCUS) compile $$s --emit c-sources -o generated/$$(basename $$s .locus) || exit 1; done
	git status --short -- generated

# Re-record the golden IR dumps and emitted C after an intended change; review the diff.
golden:
	LOCUS_RECORD_GOLDEN=1 $(SWIFT) test --filter Golden || true
	git diff --stat -- Tests

# Regenerate the PyTorch fixtures (needs PyTorch, see scripts/reference/README.md; CI never does):
#   make fixtures PYTHON=/path/to/venv/bin/python
PYTHON ?= python3
fixtures:
	cd scripts/reference && $(PYTHON) make_fixtures.py

train-fixtures:
	cd scripts/reference && $(PYTHON) make_train_fixtures.py

grad-fixtures:
	cd scripts/reference && $(PYTHON) make_grad_fixtures.py

clean:
	rm -rf .build out runs
