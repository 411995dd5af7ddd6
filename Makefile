# Two commands for a new user: `make demo` and `make test`. Each sets up .venv itself.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TMPROOT := $(CURDIR)/.tmp

# Keep tools out of the home directory and away from the network.
export XDG_CACHE_HOME := $(TMPROOT)/cache
export MPLCONFIGDIR := $(TMPROOT)/mpl
export HF_HOME := $(TMPROOT)/hf
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test check bench wheel clean translations

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@mkdir -p $(TMPROOT)
	@touch $(STAMP)

demo: $(STAMP)
	@mkdir -p demo $(TMPROOT)
	$(BIN)/python -m traceanalyzer.demo

test: $(STAMP)
	@mkdir -p $(TMPROOT)
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/ruff check traceanalyzer recorders reports tests benchmarks
	$(BIN)/ruff format --check traceanalyzer recorders reports tests benchmarks
	$(BIN)/mypy traceanalyzer recorders reports
	$(BIN)/mypy --strict --follow-imports=silent traceanalyzer/__init__.py traceanalyzer/api.py traceanalyzer/frames.py traceanalyzer/restore.py traceanalyzer/model.py

# A wheel of this checkout for a capture host: copy dist/*.whl over and
#   pip install 'llm_traceanalyzer-VERSION-py3-none-any.whl[record]'
wheel: $(STAMP)
	rm -rf dist
	$(BIN)/python -m pip wheel -q --no-deps -w dist .
	@ls dist/*.whl

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Re-extract the report and console texts and merge them into the catalogs (then translate the new entries).
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -o $(TMPROOT)/traceanalyzer.pot .
	$(BIN)/pybabel update -i $(TMPROOT)/traceanalyzer.pot -d traceanalyzer/locale -D traceanalyzer \
		--no-fuzzy-matching --ignore-obsolete --width=110

clean:
	rm -rf $(VENV) $(TMPROOT) demo dist .pytest_cache .mypy_cache .ruff_cache
