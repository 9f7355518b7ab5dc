# The README's two commands are `make book` and `make test`. Both create .venv from the
# exact pins in requirements.lock on first use and reuse it afterwards.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
# --all: re-read, and so re-execute, every page, also when only toyviz changed
JB_FLAGS := -W -n --keep-going --all
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONHASHSEED := 0
# The chapters' kernel: glibc returns freed arrays to the system instead of keeping them
# in its heap (tables of 2**20 numbers come and go in chapter 1); postBuild sets the same
# on Binder, where the kernel and the server share 1 GB.
KERNEL_ENV := --env MALLOC_MMAP_THRESHOLD_ 131072

.PHONY: book test test-unit test-build widgets-static chromium bench lock clean outputs spreads

## book: build the site into _build/html, executing every notebook
book: $(STAMP) widgets-static
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "Open _build/html/index.html in a browser."

## test: unit tests, the book build with warnings as errors (it executes every notebook,
## once), the checks of those executions against the committed outputs, browser tests of
## the site, and the chapters in a live JupyterLab.
## The unit tests run beside the build (two jobs: the machine is busy, as any maintainer's
## is), and the build runs beside a process that holds TensorFlow's libraries
## (scripts/hold_tensorflow.py), as the JupyterLab test does: nothing may pass only on a
## quiet machine. The JupyterLab test runs on its own, in a process that never imports
## TensorFlow (see its lab fixture), after the build, whose executions it reads.
test: $(STAMP) chromium widgets-static
	$(MAKE) --no-print-directory -j2 --output-sync=target test-unit test-build
	$(BIN)/python -m pytest tests -m "(notebooks or browser) and not jupyterlab" \
	  --executed-notebooks _build/jupyter_execute
	$(BIN)/python -m pytest tests/test_jupyterlab.py --executed-notebooks _build/jupyter_execute

# the two halves of make test that run side by side
test-unit:
	$(BIN)/python -m pytest tests -m "not browser and not notebooks"
test-build:
	$(BIN)/python scripts/hold_tensorflow.py $(BIN)/jupyter-book build . $(JB_FLAGS)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 $(KERNEL_ENV) > /dev/null
	touch $(STAMP)

## widgets-static: what the site serves itself, never from a CDN (exact versions in
## package-lock.json): the shim that draws the pages' anywidgets from their embedded state
## (toyviz/static/static_widgets.js) and MathJax. _config.yml's html_static_path and
## nb_ipywidgets_js point at these copies.
WIDGETS_STATIC := _build/widgets-static/toyviz-widgets
MATHJAX_STATIC := _build/widgets-static/mathjax
widgets-static: node_modules/.package-lock.json
	mkdir -p $(WIDGETS_STATIC) $(MATHJAX_STATIC)/output/chtml
	cp toyviz/static/static_widgets.js $(WIDGETS_STATIC)/static_widgets.js
	cp node_modules/mathjax/es5/tex-mml-chtml.js $(MATHJAX_STATIC)/
	cp -r node_modules/mathjax/es5/output/chtml/fonts $(MATHJAX_STATIC)/output/chtml/

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund

## chromium: Debian's Chromium for the browser tests (browsers are never downloaded)
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "Installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; \
	fi
	@$(CHROMIUM) --version

## bench: the speed figures, each against a baseline measured in the same run
bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script; done

## lock: re-resolve pyproject's ranges into requirements.lock and environment.yml
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lock-venv/bin/python -m pip install --quiet ".[book,test]"
	# --all keeps setuptools, which the editable install (--no-build-isolation) builds with
	.lock-venv/bin/python -m pip freeze --all --exclude-editable \
	  | grep -v -e '^toyviz' -e '^pip==' > requirements.lock
	.lock-venv/bin/python scripts/sync_environment.py
	rm -rf .lock-venv

## outputs: re-execute the book notebooks in place: their outputs are what the checks compare with
outputs: $(STAMP)
	$(BIN)/python scripts/execute_notebook.py book/*.ipynb

## spreads: measure each chapter's numbers across seeds, for the checks' Seeds tolerances
spreads: $(STAMP)
	$(BIN)/python scripts/measure_spread.py book/node_removal.ipynb book/relevance.ipynb book/pruning.ipynb

clean:
	rm -rf _build
