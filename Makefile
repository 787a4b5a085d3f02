# Entry points. Each target sets up what it needs (Debian packages, the virtual
# environment in .venv, the Python dependencies) before it runs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench fuzz soak setup clean

## run: the conformance scenarios on the embedded default target (the sandbox)
run: setup
	$(BIN)/prosody-harness run scenarios/

## test: the harness's own tests (tests/reliability adds about a minute: interrupted
## runs, known defects, broken scenario files), a short fuzzing run of every HTTP surface
## (about a minute and a half), then every scenario on every target (sandbox, prosody,
## docker) for Prosody 0.12 and 13, then Prosody 13's own scansion corpus with its own
## config (fetched into .cache/ by harness.scansion_corpus); JUnit reports land in reports/
test: setup
	$(BIN)/python -m harness.prosody_install 13
	$(BIN)/pytest -p no:cacheprovider tests -m "not fuzz and not fault_matrix"
	PROSODY_HARNESS_FUZZ_BUDGET=short $(BIN)/pytest -p no:cacheprovider tests/reliability -m fuzz
	mkdir -p reports
	$(BIN)/prosody-harness run scenarios --target all --prosody 0.12 --junit reports/scenarios-0.12.xml
	$(BIN)/prosody-harness run scenarios --target all --prosody 13 --junit reports/scenarios-13.xml
	corpus=$$($(BIN)/python -m harness.scansion_corpus fetch) && $(BIN)/prosody-harness run "$$corpus" --target all --prosody 13 --junit reports/scansion-corpus-13.xml

## lint: ruff (checks and formatting) over the Python code, luacheck over the Lua code (config: .luacheckrc)
lint: setup
	$(BIN)/ruff check harness mock_backends tests bench
	$(BIN)/ruff format --check harness mock_backends tests bench
	luacheck --no-color lua_modules harness/sandbox/lua

## fuzz: every HTTP surface (roster refresh, mod_rest, mod_admin_rest on Prosody 0.12 and
## 13, the mock backends) fuzzed from its OpenAPI document with a fixed budget and seed,
## the fault matrix, and 60 interrupted runs; records docs/reliability.json, then renders
## README.md's figures and docs/fault-matrix.md from it (about an hour)
fuzz: setup
	PROSODY_HARNESS_FUZZ_BUDGET=full PROSODY_HARNESS_FUZZ_SEED=17 PROSODY_HARNESS_INTERRUPTS=60 \
	PROSODY_HARNESS_FIGURES=docs/reliability.json \
	$(BIN)/pytest -p no:cacheprovider tests/reliability -m "fuzz or fault_matrix or interrupts"; \
	status=$$?; $(BIN)/python -m harness.reliability.figures --json docs/reliability.json; \
	exit $$status

## soak: 10 minutes of mixed traffic with random backend faults on Prosody 0.12, then 13;
## records the figures like fuzz (not part of test)
soak: setup
	PROSODY_HARNESS_FIGURES=docs/reliability.json $(BIN)/python bench/soak.py --prosody 0.12 \
	--minutes 10; a=$$?; PROSODY_HARNESS_FIGURES=docs/reliability.json $(BIN)/python \
	bench/soak.py --prosody 13 --minutes 10; b=$$?; \
	$(BIN)/python -m harness.reliability.figures --json docs/reliability.json; \
	test $$a -eq 0 -a $$b -eq 0

## bench: every benchmark script with its defaults, printing its figures and its time
bench: setup
	@for script in bench/bench_*.py; do \
		echo "== $$script"; started=$$(date +%s); \
		$(BIN)/python $$script || exit 1; \
		echo "== $$script: $$(( $$(date +%s) - started )) s"; \
	done

# The project's own bytecode is compiled here too: with PYTHONDONTWRITEBYTECODE set (as on
# CI machines) Python would otherwise compile every harness module at each command's start.
setup: $(INSTALLED)
	@$(BIN)/python -m compileall -q harness mock_backends > /dev/null

$(INSTALLED): pyproject.toml bin/ensure-system-packages
	./bin/ensure-system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
