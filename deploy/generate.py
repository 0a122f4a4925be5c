"""Writes the deploy files derived from others: `make deploy-files` (deploy/generate.py).

- ``grafana/dashboards/wirestream.json``: the Grafana dashboard. An overview row, then one row
  per stage with its throughput, latency quantiles, lag by partition, dead letters by reason,
  memory, and what the stage adds to articles (languages, entities, topics).
- ``kubernetes/prometheusrule.yaml``: the alert rules of ``prometheus/rules/wirestream.yml`` as a
  PrometheusRule for the Prometheus operator.

The outputs are committed (Grafana provisioning and kubectl read files); a test fails when they
differ from what this script writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).parent
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "wirestream.json"
RULES = DEPLOY / "prometheus" / "rules" / "wirestream.yml"
PROMETHEUS_RULE = DEPLOY / "kubernetes" / "prometheusrule.yaml"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JOB = 'job=~"$job"'
RATE = "[$__rate_interval]"
QUANTILES = (0.5, 0.95, 0.99)


def target(expr: str, legend: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref, **extra}


def targets(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def timeseries(title: str, unit: str, description: str, *pairs: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {"unit": unit, "min": 0, "custom": {"fillOpacity": 10, "lineWidth": 1}},
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets(*pairs),
    }


def stat(title: str, description: str, expr: str, legend: str) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "unit": "none",
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}],
                },
            },
            "overrides": [],
        },
        "options": {
            "colorMode": "background",
            "graphMode": "none",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "value_and_name",
        },
        "targets": targets((expr, legend)),
    }


def info_table(title: str, description: str, expr: str) -> dict[str, Any]:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True},
        "targets": [target(expr, "", "A", format="table", instant=True)],
        "transformations": [
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}},
            }
        ],
    }


def quantiles(histogram: str, selector: str, by: str = "") -> list[tuple[str, str]]:
    grouping = f"le, {by}" if by else "le"
    return [
        (
            f"histogram_quantile({q}, sum by ({grouping}) "
            f"(rate({histogram}_bucket{{{selector}}}{RATE})))",
            f"p{round(q * 100)}" + (f" {{{{{by}}}}}" if by else ""),
        )
        for q in QUANTILES
    ]


def overview() -> list[dict[str, Any]]:
    lag = f"max by (stage, topic, partition) (wirestream_consumer_lag_messages{{{JOB}}})"
    return [
        stat(
            "Stages ready",
            "Processes of each stage that are ready (models loaded, partitions assigned).",
            f"sum by (stage) (wirestream_stage_ready{{{JOB}}})",
            "{{stage}}",
        ),
        stat(
            "Workers up",
            "Workers whose every stage process runs, out of those Prometheus scrapes.",
            f"sum(wirestream_worker_up{{{JOB}}})",
            "workers",
        ),
        timeseries(
            "Articles out per second, by stage",
            "ops",
            "Messages each stage emitted (not dead-lettered).",
            (
                f'sum by (stage) (rate(wirestream_messages_total{{{JOB}, outcome="out"}}{RATE}))',
                "{{stage}}",
            ),
        ),
        timeseries(
            "End-to-end latency",
            "s",
            "From the raw message's broker timestamp to the enriched event.",
            *quantiles("wirestream_end_to_end_seconds", JOB),
        ),
        timeseries(
            "Consumer lag by stage",
            "short",
            "Messages waiting on each stage's input topic (sum over partitions).",
            (f"sum by (stage) ({lag})", "{{stage}}"),
        ),
        timeseries(
            "Dead letters per second, by stage and reason",
            "ops",
            "Messages sent to the dead-letter topic.",
            (
                f"sum by (stage, reason) (rate(wirestream_dead_letters_total{{{JOB}}}{RATE}))",
                "{{stage}} {{reason}}",
            ),
        ),
        timeseries(
            "Dead-letter share of input, by stage",
            "percentunit",
            "Dead letters divided by messages in; the alert fires above 5%.",
            (
                f"sum by (stage) (rate(wirestream_dead_letters_total{{{JOB}}}{RATE})) / "
                f'sum by (stage) (rate(wirestream_messages_total{{{JOB}, outcome="in"}}{RATE}))',
                "{{stage}}",
            ),
        ),
        timeseries(
            "Stage restarts",
            "short",
            "Stage processes restarted by their worker in the last hour.",
            (
                f"sum by (stage) (increase(wirestream_stage_restarts_total{{{JOB}}}[1h]))",
                "{{stage}}",
            ),
        ),
        info_table(
            "Models and versions",
            "The model each stage process has loaded, and each worker's Wirestream version.",
            f"max by (stage, model, model_version) (wirestream_model_info{{{JOB}}})",
        ),
        info_table(
            "Workers",
            "Wirestream and Python versions per worker.",
            f"max by (instance, version, python_version) (wirestream_build_info{{{JOB}}})",
        ),
    ]


def stage_panels(stage: str) -> list[dict[str, Any]]:
    selector = f'{JOB}, stage="{stage}"'
    panels = [
        timeseries(
            "Throughput",
            "ops",
            "Messages per second taken in, emitted, and dead-lettered.",
            (
                f"sum by (outcome) (rate(wirestream_messages_total{{{selector}}}{RATE}))",
                "{{outcome}}",
            ),
        ),
        timeseries(
            "Latency per article",
            "s",
            "Processing time per article (a batch's time shared by its articles).",
            *quantiles("wirestream_stage_seconds", selector),
        ),
        timeseries(
            "Batches",
            "s",
            "Time per batch from take to acknowledgement (p95), and messages per batch (mean).",
            *quantiles("wirestream_batch_seconds", selector)[1:2],
            (
                f"sum(rate(wirestream_batch_size_sum{{{selector}}}{RATE})) / "
                f"sum(rate(wirestream_batch_size_count{{{selector}}}{RATE}))",
                "messages per batch",
            ),
        ),
        timeseries(
            "Consumer lag by partition",
            "short",
            "Messages not yet committed, per partition of the input topic (its owner's value).",
            (
                f"max by (topic, partition) (wirestream_consumer_lag_messages{{{selector}}})",
                "{{topic}} {{partition}}",
            ),
        ),
        timeseries(
            "Dead letters by reason",
            "ops",
            "Dead letters per second, by reason code.",
            (
                f"sum by (reason) (rate(wirestream_dead_letters_total{{{selector}}}{RATE}))",
                "{{reason}}",
            ),
        ),
        timeseries(
            "Memory per process",
            "bytes",
            "Resident memory of each process of the stage.",
            (
                f"wirestream_process_resident_memory_bytes{{{selector}}}",
                "{{instance}}",
            ),
        ),
    ]
    ner_out = f'sum(rate(wirestream_messages_total{{{JOB}, stage="ner", outcome="out"}}{RATE}))'
    if stage == "clean":
        panels.append(
            timeseries(
                "Language mix",
                "ops",
                "Articles per second out of the clean stage, by detected or given language.",
                (
                    "sum by (language) "
                    f"(rate(wirestream_articles_by_language_total{{{JOB}}}{RATE}))",
                    "{{language}}",
                ),
            )
        )
        panels.append(
            timeseries(
                "Duplicate rate",
                "percentunit",
                "Share of clean articles found to repeat an earlier one, by what was done.",
                (
                    f"sum by (mode) (rate(wirestream_duplicates_total{{{JOB}}}{RATE})) / "
                    f'scalar(sum(rate(wirestream_messages_total{{{JOB}, stage="clean", '
                    f'outcome="in"}}{RATE})))',
                    "{{mode}}",
                ),
            )
        )
    elif stage == "ner":
        panels.append(
            timeseries(
                "Entities per article, by label",
                "short",
                "Mean distinct entities of each label per article out of NER.",
                (
                    f"sum by (label) (rate(wirestream_entities_total{{{JOB}}}{RATE})) / "
                    f"scalar({ner_out})",
                    "{{label}}",
                ),
                *quantiles("wirestream_entities_per_article", JOB)[1:2],
            )
        )
        panels.append(
            timeseries(
                "spaCy StringStore size",
                "short",
                "Strings each NER process's spaCy pipeline holds; flat when memory zones work.",
                (f"wirestream_spacy_strings{{{selector}}}", "{{instance}} {{model}}"),
            )
        )
    elif stage == "classify":
        panels.append(
            timeseries(
                "Topic mix",
                "ops",
                "Enriched articles per second by primary IPTC media topic.",
                (
                    "sum by (topic_label) "
                    f"(rate(wirestream_articles_by_topic_total{{{JOB}}}{RATE}))",
                    "{{topic_label}}",
                ),
            )
        )
    return panels


def layout(rows: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Rows one under the other; panels 8 wide, three to a line (stats 4 wide)."""
    placed: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for title, panels in rows:
        placed.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "id": next_id,
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x, line_height = 0, 0
        for panel in panels:
            width = 4 if panel["type"] == "stat" else 8
            height = 8
            if x + width > 24:
                x, y = 0, y + line_height
                line_height = 0
            placed.append(
                {**panel, "id": next_id, "gridPos": {"h": height, "w": width, "x": x, "y": y}}
            )
            next_id += 1
            x += width
            line_height = max(line_height, height)
        y += line_height
    return placed


def dashboard() -> dict[str, Any]:
    rows = [("Overview", overview())]
    rows += [(f"Stage: {stage}", stage_panels(stage)) for stage in ("clean", "ner", "classify")]
    return {
        "title": "Wirestream",
        "uid": "wirestream",
        "description": "Wirestream pipeline: throughput, latency, lag and content per stage.",
        "tags": ["wirestream", "kafka", "nlp"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "job",
                    "label": "Job",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {
                        "query": "label_values(wirestream_build_info, job)",
                        "refId": "job",
                    },
                    "definition": "label_values(wirestream_build_info, job)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".+",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                    "sort": 1,
                    "hide": 0,
                },
            ]
        },
        "panels": layout(rows),
    }


def render_dashboard() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


class _BlockStyleDumper(yaml.SafeDumper):
    """Indented lists, and multi-line strings (PromQL) as literal blocks, as in the rules file."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)


def render_prometheus_rule() -> str:
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "wirestream",
            "namespace": "wirestream",
            "labels": {"app.kubernetes.io/name": "wirestream"},
        },
        "spec": yaml.safe_load(RULES.read_text(encoding="utf-8")),
    }
    header = "# Generated by deploy/generate.py from deploy/prometheus/rules/wirestream.yml.\n"
    body = yaml.dump(rule, Dumper=_BlockStyleDumper, sort_keys=False, width=100)
    return header + body


OUTPUTS = {DASHBOARD: render_dashboard, PROMETHEUS_RULE: render_prometheus_rule}


if __name__ == "__main__":
    for path, render in OUTPUTS.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
