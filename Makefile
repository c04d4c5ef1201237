# Two commands a new user needs: `make demo` and `make test`. Both set up first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BUILDER:= $(VENV)/bin/builder
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out/demo
# The exact versions the suite passed with: a fresh machine gets what CI got (README: "Versions").
LOCK   := requirements.lock

.PHONY: setup dot demo test test-wheel test-latest lock bench bench-gpu quality schema clean

$(STAMP): pyproject.toml $(LOCK)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

# Graphviz's `dot` renders diagrams; install it when we can (root + apt), else say how.
dot:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Graphviz (dot) with apt-get"; \
	  (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) || echo "could not install Graphviz; run: sudo apt-get install graphviz"; \
	else echo "Graphviz's dot is missing; install it with: sudo apt-get install graphviz  (macOS: brew install graphviz)"; fi

setup: $(STAMP) dot

demo: setup
	@mkdir -p $(OUT)
	$(BUILDER) validate specs/lenet.yaml
	$(BUILDER) render specs/lenet.yaml -o $(OUT)/lenet.svg
	$(BUILDER) build specs/lenet.yaml -o $(OUT)
	$(BUILDER) train specs/lenet.yaml
	@echo "demo outputs: diagram and model in $(OUT)/, the training run folder printed above (under runs/)"

# The whole suite on TensorFlow, then the backend-sensitive modules (tests/conftest.py) on JAX and
# PyTorch, then the wheel installed into a fresh environment and used from outside the checkout.
test: setup
	$(PY) -m pytest -q -n 2
	$(PY) -m pytest -q -n 2 --backend jax
	$(PY) -m pytest -q -n 2 --backend torch
	$(MAKE) test-wheel

test-wheel: setup
	PYTHON=$(PY) bash .ci/wheel-check

# The suite with the newest versions pyproject.toml allows, in a venv of its own: drift found on purpose.
LATEST := .venv-latest
test-latest: dot
	rm -rf $(LATEST) && python3 -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade -e '.[dev]'
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions-under-test.txt
	@echo "versions under test: $(LATEST)/versions-under-test.txt (diff it against $(LOCK))"
	$(LATEST)/bin/python -m pytest -q -n 2
	$(LATEST)/bin/python -m pytest -q -n 2 --backend jax
	$(LATEST)/bin/python -m pytest -q -n 2 --backend torch
	mv $(LATEST)/versions-under-test.txt $(LATEST)/versions.txt   # only versions that passed can be locked

# Refresh the lock: after `make test-latest` passes, its versions become the tested ones.
lock:
	@test -f $(LATEST)/versions.txt || { echo "run make test-latest first (and see it pass): the lock records versions the suite passed with"; exit 1; }
	{ sed -n '1,2p' $(LOCK); cat $(LATEST)/versions.txt; } > $(LOCK).new && mv $(LOCK).new $(LOCK)
	@echo "updated $(LOCK); commit it"

# Speed against hand-written Keras (about 30 minutes on 2 cores), then bench/RESULTS.md from every results file.
bench: setup
	$(PY) bench/cli_speed.py
	$(PY) bench/validate_speed.py
	$(PY) bench/build_speed.py
	$(PY) bench/train_speed.py
	$(PY) bench/collect.py

# builder against hand-written Keras on the JAX backend's GPU, float32 and mixed bfloat16 (a GPU machine).
bench-gpu: setup
	$(PY) bench/gpu_train.py

# Measured quality of the generative kinds on embedded data (minutes; figures in the README).
quality: setup
	@for script in bench/quality/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done
	$(PY) bench/collect.py

schema: setup
	$(BUILDER) schema

clean:
	rm -rf $(VENV) $(LATEST) out .pytest_cache
