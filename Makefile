# The two commands of the README's quick start, and their parts.
#   make demo   install if needed, make the synthetic cohort if missing, train + evaluate + report (CPU, about 7.5 min)
#   make test   install if needed, run the whole test suite
#   make lint   install if needed, run ruff (the rules in pyproject.toml)
PY := .venv/bin/python
WHEELHOUSE ?= $(MMAC_WHEELHOUSE)

.PHONY: install demo test lint clean-demo

install:
	tools/install.sh $(if $(WHEELHOUSE),--wheelhouse $(WHEELHOUSE))

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest -q tests

lint: install
	$(PY) -m ruff check mmac tools tests configs benchmarks

clean-demo:
	rm -rf work_dirs/demo work_dirs/demo_seed* data/demo_cohort
