# Entry points. Each target sets up what it needs (Debian packages, the virtual
# environment in .venv, the Python dependencies) before it runs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench setup clean

## run: the conformance scenarios on the embedded default target (the sandbox)
run: setup
	$(BIN)/prosody-harness run scenarios/

## test: the harness's own tests, then every scenario on every target (sandbox, prosody,
## docker) for Prosody 0.12 and 13; JUnit reports land in reports/
test: setup
	$(BIN)/pytest -p no:cacheprovider tests
	mkdir -p reports
	$(BIN)/prosody-harness run scenarios --target all --prosody 0.12 --junit reports/scenarios-0.12.xml
	$(BIN)/prosody-harness run scenarios --target all --prosody 13 --junit reports/scenarios-13.xml

## lint: ruff over the Python code, luacheck over the Lua code (config: .luacheckrc)
lint: setup
	$(BIN)/ruff check harness mock_backends tests bench
	luacheck --no-color lua_modules harness/sandbox/lua

## bench: every benchmark script, printing its figures
bench: setup
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml bin/ensure-system-packages
	./bin/ensure-system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
