.PHONY: install run test lint bench clean
VENV := .venv
BIN := $(VENV)/bin

install:
	@./scripts/setup.sh

run: install
	$(BIN)/errand up --port 8080

test: install
	$(BIN)/pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m tests.bench.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
