# Wirestream: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORPUS ?=
# The broker `make bench` and `make bench-latency` measure on: tansu, kafka or both.
BROKER ?= tansu

.PHONY: demo test lint format bench bench-all lock clean deploy-files soak audit bench-hostile \
	kafka-up kafka-down test-kafka soak-kafka bench-compression \
	bench-latency bench-demo bench-profile bench-enrich-memory bench-validation bench-tracing \
	bench-exactly-once bench-extraction bench-language bench-dedup bench-clean-speed \
	bench-ner-conll bench-ner-salience bench-ner-speed bench-ner-memory bench-topics \
	bench-topics-cross

$(STAMP): requirements.lock pyproject.toml examples/wirestream-sentiment/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		-e examples/wirestream-sentiment
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/wirestream demo

test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests bench deploy tools examples
	$(BIN)/ruff format --check pipeline tests bench deploy tools examples

format: $(STAMP)
	$(BIN)/ruff format pipeline tests bench deploy tools examples
	$(BIN)/ruff check --fix pipeline tests bench deploy tools examples

# The reliability scenarios at full size: 2,000 articles per kill, a 30 s broker freeze, the
# hostile corpus at full size; each prints its figures.
soak: $(STAMP)
	WIRESTREAM_SOAK=1 $(BIN)/pytest -p no:cacheprovider -s --timeout 1800 \
		tests/e2e/test_reliability.py tests/test_hostile.py

# A three-node Apache Kafka cluster (KRaft) on 127.0.0.1 in the background, fetched through
# Maven into ~/.m2 the first time; its bootstrap servers go to .kafka/bootstrap.
kafka-up: $(STAMP)
	$(BIN)/python -m pipeline.cluster up

kafka-down: $(STAMP)
	$(BIN)/python -m pipeline.cluster down

# The end-to-end suites against Apache Kafka: the cluster `make kafka-up` started, else one
# started for the run. Fails, saying why, where Java or Maven is missing. Of the worker-side
# reliability scenarios it runs the stage kills (consumer-group timing is what differs from the
# embedded broker); `make soak-kafka` runs them all.
KAFKA_SUITES := tests/e2e/test_pipeline.py tests/e2e/test_dedup.py tests/e2e/test_replay.py \
	tests/e2e/test_health.py tests/e2e/test_topic_checks.py tests/e2e/test_reliability.py \
	tests/e2e/test_other_clients.py tests/e2e/test_cluster_failures.py \
	tests/e2e/test_network_partition.py tests/e2e/test_scaling.py tests/e2e/test_exactly_once.py \
	tests/test_cluster.py
KAFKA_LATER := not supervisor_then and not sigterm_stops and not with_duplicates_dropped
test-kafka: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider --broker kafka --durations=8 -k "$(KAFKA_LATER)" \
		$(KAFKA_SUITES)

# The broker failures on Apache Kafka at full size (5,000 articles for a broker's kill -9 and the
# rolling restart, a 30 s freeze, a worker's link down for 60 s), NER workers joining and leaving
# with 30 s of stream after each change, and every worker-side scenario; each prints its figures.
soak-kafka: $(STAMP)
	WIRESTREAM_SOAK=1 $(BIN)/pytest -p no:cacheprovider -s --timeout 1800 --broker kafka \
		tests/e2e/test_cluster_failures.py tests/e2e/test_network_partition.py \
		tests/e2e/test_scaling.py tests/e2e/test_reliability.py

# Known vulnerabilities in the pinned dependencies (pip-audit asks PyPI's vulnerability service);
# tools/audit.py applies the policy: a vulnerability with a fixed release fails.
audit: $(STAMP)
	$(BIN)/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off \
		--format json --output $(VENV)/audit.json || true
	$(BIN)/python tools/audit.py $(VENV)/audit.json requirements.lock

# Rewrite the Grafana dashboard and the Kubernetes PrometheusRule from their sources.
deploy-files: $(STAMP)
	$(BIN)/python deploy/generate.py

# End-to-end throughput against the raw spaCy ceiling (CORPUS=paths) on Tansu (the embedded
# broker), on Apache Kafka (BROKER=kafka: the cluster `make kafka-up` started, else one started for the
# run) or on both side by side with one ceiling per round (BROKER=both).
bench: $(STAMP)
	$(BIN)/python bench/throughput.py --broker $(BROKER) $(CORPUS)

# Throughput in exactly-once against at-least-once on Apache Kafka (the cluster `make kafka-up`
# started, else one started for the run): medians of the rounds and their ratio.
bench-exactly-once: $(STAMP)
	$(BIN)/python bench/exactly_once.py $(CORPUS)

# CPU ms per article by process (broker, each stage process and its code process, the dedup
# agent) and bytes per article on each topic, for one full worker on the embedded broker.
bench-profile: $(STAMP)
	$(BIN)/python bench/cost_profile.py $(CORPUS)

# One target per reported figure; each prints its figures and the machine.
bench-extraction: $(STAMP)
	$(BIN)/python bench/extraction_quality.py
bench-language: $(STAMP)
	$(BIN)/python bench/language_detection.py
bench-dedup: $(STAMP)
	$(BIN)/python bench/near_duplicates.py
bench-clean-speed: $(STAMP)
	$(BIN)/python bench/clean_speed.py
bench-ner-conll: $(STAMP)
	$(BIN)/python bench/ner_conll.py
bench-ner-salience: $(STAMP)
	$(BIN)/python bench/ner_salience.py
bench-tracing: $(STAMP)
	$(BIN)/python bench/tracing.py
bench-ner-speed: $(STAMP)
	$(BIN)/python bench/ner_speed.py
bench-ner-memory: $(STAMP)
	$(BIN)/python bench/ner_memory.py
bench-topics: $(STAMP)
	$(BIN)/python bench/topics_bench.py
# Train on each source, test on the others (four fits: several minutes on 2 cores).
bench-topics-cross: $(STAMP)
	$(BIN)/python bench/topics_cross_source.py
bench-latency: $(STAMP)
	$(BIN)/python bench/latency.py --broker $(BROKER)
# `make demo`'s wall time on Apache Kafka (one node) and on Tansu, side by side (needs Java).
bench-demo: $(STAMP)
	$(BIN)/python bench/demo_start.py
bench-hostile: $(STAMP)
	$(BIN)/python bench/hostile.py
# Bytes per message on Apache Kafka for each compression_type (needs Java and Maven).
bench-compression: $(STAMP)
	$(BIN)/python bench/compression.py
# Peak RSS of `wirestream enrich` on generated 100 MB and 1 GB JSON Lines files (in /tmp).
bench-enrich-memory: $(STAMP)
	$(BIN)/python bench/enrich_memory.py
# Cost per event of validate_output, beside each stage's work.
bench-validation: $(STAMP)
	$(BIN)/python bench/validation.py

bench-all: bench bench-latency bench-demo bench-profile bench-extraction bench-language bench-dedup \
	bench-clean-speed bench-ner-conll bench-ner-salience bench-ner-speed bench-topics \
	bench-ner-memory bench-enrich-memory bench-validation bench-compression bench-topics-cross \
	bench-tracing

# Re-pin every dependency (runtime and test) from pyproject.toml into requirements.lock.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) out .wirestream .pytest_cache .ruff_cache
