# The two set-up commands of the README. Each creates .venv from nothing when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-all clean-venv

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# molsets carries the MOSES drug-like SMILES; its pomegranate dependency does not build here and is unused.
	$(BIN)/python -m pip install --quiet --no-deps molsets==0.3.1
	# Fashion-MNIST for the image adapter (Debian package); optional: the tests do not need it.
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) || \
	  echo "note: dataset-fashion-mnist not installed (needed only by python -m unite_mol.images.train)"; fi
	touch $@

setup: $(BIN)/.installed

## The main job: set up, then run the QM9 job on the embedded defaults.
demo: setup
	$(BIN)/python -m unite_mol.bench qm9

## The tests: set up, then the fast CPU tier, one single-threaded worker per core (test files kept whole).
test: setup
	$(BIN)/python -m pytest -q -n auto --dist loadfile

## Everything, slow tests included.
test-all: setup
	$(BIN)/python -m pytest -q -m '' -n auto --dist loadfile
