# Two commands matter: `make run` (the local stack) and `make test` (everything that checks it).
# Both install what they need into .venv first, from requirements*.txt.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
SUB ?= alice
TENANT ?=
ROLES ?= tenant_user
TTL ?= 3600
# jsii (under aws-cdk-lib) warns on every synth that Node 20 is past its end of life; the
# library still works with it, and the warning would bury test output.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20

.PHONY: install run test lint typecheck pytest schema-snapshot token invoke synth fuzz bench bench-create bench-search bench-cold-init bench-intake bench-enqueue bench-sla-lateness bench-webhooks bench-sla-due clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	PORT=$(PORT) $(PY) -m local.run

token: $(STAMP)
	@$(PY) -m local.token --sub "$(SUB)" --tenant "$(TENANT)" --roles "$(ROLES)" --ttl "$(TTL)"

# An operator function of the running local stack, e.g. make invoke FN=audit_verify PAYLOAD='{"ticket": "TCK-1"}'
FN ?= outbox_relay
PAYLOAD ?= {}
invoke: $(STAMP)
	@$(PY) -m local.invoke "$(FN)" '$(PAYLOAD)'

test: lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy shared functions local infra tests bench app.py

pytest: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q

# After an intended schema change: apply every migration to a fresh database on the test server
# (embedded, or TEST_DATABASE_URL) and rewrite the schema the migration test expects.
schema-snapshot: $(STAMP)
	$(PY) -m tests.schema_snapshot

# Property-based testing of every operation against /openapi.json (schemathesis, all checks), as a
# tenant user and a platform operator, against the running local stack (make run); make test runs a
# bounded version. EXAMPLES per operation; SEED=... replays a run; ST='--phases fuzzing' passes options.
EXAMPLES ?= 200
SEED ?=
ST ?=
fuzz: $(STAMP)
	PORT=$(PORT) $(PY) -m tests.e2e.test_fuzz --examples $(EXAMPLES) $(if $(SEED),--seed $(SEED)) -- $(ST)

synth: $(STAMP)
	rm -rf cdk.out && CDK_OUTDIR=cdk.out $(PY) app.py && echo "synthesised into cdk.out/"

bench: bench-create bench-search bench-cold-init bench-intake bench-enqueue bench-sla-due bench-sla-lateness bench-webhooks

bench-create: $(STAMP)
	$(PY) -m bench.create_ticket

bench-cold-init: $(STAMP)
	$(PY) -m bench.cold_init

bench-search: $(STAMP)
	$(PY) -m bench.search

# Intake through the worker's handler against raw SQL upserts, and 8 racing workers (issue 10 §8).
bench-intake: $(STAMP)
	$(PY) -m bench.intake

# POST /v2/enqueue to the ticket visible through GET /tickets?dedup_key= on the local stack.
bench-enqueue: $(STAMP)
	$(PY) -m bench.enqueue_latency

# SLA timers on the local stack: 10,000 clocks due over 10 minutes, lateness p50/p99/max, missed
# and double firings (issue 11 §6; about 13 minutes).
bench-sla-lateness: $(STAMP)
	$(PY) -m bench.sla_lateness

# Webhooks on the local stack: change → delivery latency, dispatcher throughput against a bare
# POST loop, and every delivery's signature verified with standardwebhooks (issue 12 §7).
bench-webhooks: $(STAMP)
	$(PY) -m bench.webhook_delivery

# Due-date computations per second: a business calendar with holidays against 24x7 (issue 11 §6).
bench-sla-due: $(STAMP)
	$(PY) -m bench.sla_due_dates

clean:
	rm -rf cdk.out .build .local .pytest_cache .mypy_cache .ruff_cache
