# The two commands a newcomer needs:  make run  (the default experiment)  and  make test.
# Both create .venv, install the pinned Python packages and, when run as root on Debian/Ubuntu,
# the system packages the sandboxes need (bubblewrap, git; docker.io + debootstrap for tests).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: run test install system-deps docker-engine sandbox-image bench clean

run: install system-deps
	$(BIN)/qdagents run $(ARGS)

test: install system-deps docker-engine
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

system-deps:
	@bash scripts/system-deps.sh

# Starts a docker engine (no bridge network) when none answers, and builds the sandbox image
# offline (debootstrap + docker import) when it is missing. Skipped quietly without docker.
docker-engine: install
	@bash scripts/docker-engine.sh $(BIN)/qdagents

# Where the time and the bytes go (docs/performance.md): sandbox start-up per command, controller
# overhead per evaluation at 10^2..10^4 agents with resume and summary times, storage per evaluation.
bench: install system-deps docker-engine
	$(BIN)/python experiments/bench_sandbox.py
	$(BIN)/python experiments/bench_controller.py
	$(BIN)/python experiments/bench_storage.py
	$(BIN)/python experiments/bench_dask.py

clean:
	rm -rf $(VENV) runs multirun outputs .pytest_cache
