# batch-host — thin wrappers over cargo. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
CARGO ?= cargo
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
DEMO_DIR := target/demo
# The demo's host home (repository and artifact key), beside its work directory, never inside it.
DEMO_HOME := target/demo-home
DEMO_ENV := env -u BATCH_HOST_REPOSITORY BATCH_HOST_HOME=$(CURDIR)/$(DEMO_HOME)
DEMO_ROWS ?= 120000
DEMO_INVALID ?= 300
BIN := target/release/batch-host

.PHONY: all build plugins test lint fmt demo bench bench-micro fuzz clean

all: build plugins

## build: the batch-host binary (release)
build:
	$(CARGO) build --release -p batch-host

## plugins: every plugin and test guest as a wasm32-wasip2 component in target/components/
plugins:
	plugins/build.sh

## test: lints, unit tests and the integration suite (SQLite, plus PostgreSQL when it answers)
test: plugins lint
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
		echo "PostgreSQL answers at 127.0.0.1:5432: repository tests run on SQLite and PostgreSQL"; \
		export BATCH_HOST_TEST_PG=$(PG_URL); \
	else \
		echo "PostgreSQL is not reachable: repository tests run on SQLite only (under CI=true the PostgreSQL variants fail)"; \
	fi; \
	rm -f target/test-skips.log; export BATCH_HOST_TEST_SKIPS=$(CURDIR)/target/test-skips.log; \
	set -o pipefail; $(CARGO) test --workspace 2>&1 | tee target/test-output.log
	@s=$$(cat target/test-skips.log 2>/dev/null | wc -l); \
	awk -v s=$$s '/^test result:/ { gsub(";", ""); p += $$4; f += $$6 } END { printf "tests: %d passed, %d skipped (PostgreSQL not configured), %d failed\n", p - s, s, f }' target/test-output.log

## lint: clippy (warnings are errors) and rustfmt
lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check

fmt:
	$(CARGO) fmt --all

## demo: build, generate a realistic members CSV, register the plugins, run the job on SQLite
demo: build plugins
	@rm -rf $(DEMO_DIR) $(DEMO_HOME) && mkdir -p $(DEMO_DIR)
	python3 tests/data/gen-members.py --rows $(DEMO_ROWS) --invalid $(DEMO_INVALID) --out $(DEMO_DIR)/members.csv
	cp tests/jobs/member-migration.yaml $(DEMO_DIR)/job.yaml
	cd $(DEMO_DIR) && for p in member-processor report-tasklet; do \
		$(DEMO_ENV) ../../$(BIN) plugin register ../components/$$p.wasm || exit 1; done
	cd $(DEMO_DIR) && $(DEMO_ENV) ../../$(BIN) plugin list
	cd $(DEMO_DIR) && $(DEMO_ENV) ../../$(BIN) run job.yaml --param run.date=$$(date +%F),date
	@echo
	@echo "Output: $(DEMO_DIR)/out/members.jsonl ($$(wc -l < $(DEMO_DIR)/out/members.jsonl) lines), reports: $$(cd $(DEMO_DIR) && ls out/*.md | tr '\n' ' ')"
	@cat $(DEMO_DIR)/out/summary.md
	@echo "Repository (Spring Batch 5 tables): $(DEMO_HOME)/batch-host.db (outside the work directory $(DEMO_DIR), which plugins see)"
	@python3 -c "import sqlite3; c = sqlite3.connect('$(DEMO_HOME)/batch-host.db'); \
	  [print(r) for r in c.execute('select STEP_EXECUTION_ID, STEP_NAME, STATUS, EXIT_CODE, READ_COUNT, WRITE_COUNT, PROCESS_SKIP_COUNT, COMMIT_COUNT, ROLLBACK_COUNT from BATCH_STEP_EXECUTION')]"
	@echo "The first skipped members (all of them: BATCH_HOST_HOME=$(DEMO_HOME) $(BIN) skipped 1):"
	@cd $(DEMO_DIR) && $(DEMO_ENV) ../../$(BIN) skipped 1 | head -6

## bench: batch-host against spring-batch-rs and a hand-written program on 1M member rows (and the
## member processor in Rust, Python and JavaScript)
## (BENCH_ROWS, BENCH_ROUNDS, BENCH_ONLY=a,c); results in target/bench/results.md
bench: build plugins
	@test -x /usr/bin/time || { echo "installing Debian's time (GNU time measures each run's peak RSS)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get install -y -qq time >/dev/null; }
	$(CARGO) build --release --manifest-path tests/peers/Cargo.toml --target-dir target/peers
	python3 tests/bench/run.py

## bench-micro: the engine's own micro-benchmarks (Wasm vs native, per-item vs batched calls)
bench-micro: plugins
	$(CARGO) bench -p batch-host --bench member_migration

## fuzz: cargo-fuzz on job.yaml parse+plan, --param parsing and the ExecutionContext decoder,
## FUZZ_SECONDS (default 60) per target, from the seeds in fuzz/seeds (FUZZ_TARGETS=param,…)
fuzz:
	fuzz/run.sh

clean:
	$(CARGO) clean
