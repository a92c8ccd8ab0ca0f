"""The Kubernetes manifests: the base and the production overlay render with `kubectl kustomize` and
validate against the Kubernetes schemas offline (kubernetes-validate ships them), and what a platform
team checks first holds for every workload. Skips where kubectl is not installed (Debian: kubectl)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml  # type: ignore[import-untyped]  # types-PyYAML is not among the locked tools

REPO_ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE_DIRS = {
    "base": REPO_ROOT / "deploy" / "kubernetes" / "base",
    "production": REPO_ROOT / "deploy" / "kubernetes" / "overlays" / "production",
}
# The oldest Kubernetes release still supported upstream when this was written, and the newest the
# validator knows.
KUBERNETES_VERSIONS = ["1.32.0", kubernetes_validate.latest_version()]
SHOP_PROCESSES = {"gateway", "auth", "catalog", "order", "payment"}

Manifest = dict[str, Any]


def render(directory: Path) -> list[Manifest]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (Debian: apt-get install kubectl)")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {name: render(directory) for name, directory in KUSTOMIZE_DIRS.items()}


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_specs(manifests: list[Manifest]) -> dict[str, Manifest]:
    """Every pod template: Deployments, Jobs and CronJobs."""
    specs = {}
    for m in manifests:
        if m["kind"] in {"Deployment", "Job"}:
            specs[f"{m['kind']}/{m['metadata']['name']}"] = m["spec"]["template"]["spec"]
        elif m["kind"] == "CronJob":
            specs[f"CronJob/{m['metadata']['name']}"] = m["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", sorted(KUSTOMIZE_DIRS))
def test_every_manifest_is_valid_against_the_kubernetes_schemas(
    rendered: dict[str, list[Manifest]], name: str, version: str
) -> None:
    for manifest in rendered[name]:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_validator_refuses_a_wrong_manifest(rendered: dict[str, list[Manifest]]) -> None:
    """The check above can fail: a misspelt field and a wrongly typed one are both caught offline."""
    gateway = copy.deepcopy(of_kind(rendered["production"], "Deployment")["gateway"])
    gateway["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(gateway, KUBERNETES_VERSIONS[0], strict=True)
    gateway = copy.deepcopy(of_kind(rendered["production"], "Deployment")["gateway"])
    gateway["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(gateway, KUBERNETES_VERSIONS[0], strict=True)


def test_every_container_is_unprivileged_read_only_limited(rendered: dict[str, list[Manifest]]) -> None:
    specs = pod_specs(rendered["production"])
    assert {"CronJob/shop-backup", "Job/shop-mongodb-users"} <= specs.keys()
    for where, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in context["capabilities"], where
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), where
            assert "memory" in resources["limits"], where


def test_each_process_has_its_probes_service_and_disruption_budget(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["production"]
    deployments = of_kind(manifests, "Deployment")
    assert deployments.keys() >= SHOP_PROCESSES
    services = of_kind(manifests, "Service")
    budgets = {
        m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for m in of_kind(manifests, "PodDisruptionBudget").values()
    }
    for name in SHOP_PROCESSES:
        [app] = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert app["livenessProbe"]["httpGet"]["path"] == "/health/live", name
        assert app["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        assert {"name": "APP", "value": name} in app["env"], name
        assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert name in budgets
    scaled = {
        m["spec"]["scaleTargetRef"]["name"] for m in of_kind(manifests, "HorizontalPodAutoscaler").values()
    }
    assert scaled == {"gateway", "catalog"}


def test_secrets_are_referenced_never_embedded(rendered: dict[str, list[Manifest]]) -> None:
    for name, manifests in rendered.items():
        assert of_kind(manifests, "Secret") == {}, name
        for where, spec in pod_specs(manifests).items():
            for container in spec["containers"]:
                for variable in container.get("env", []):
                    assert "value" not in variable or variable["name"] not in {"MONGODB_URL", "REDIS_URL"}, (
                        where
                    )


def test_production_pins_every_image_by_digest_and_sets_what_production_requires(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["production"]
    for where, spec in pod_specs(manifests).items():
        for container in spec["containers"]:
            assert "@sha256:" in container["image"], where
    [settings] = of_kind(manifests, "ConfigMap").values()
    for required in ("ENV", "PUBLIC_BASE_URL", "CORS_ORIGINS", "PAYMENT_PROVIDERS", "TRUSTED_PROXIES"):
        assert required in settings["data"], required
    assert settings["data"]["ENV"] == "production"
    assert "sandbox" not in settings["data"]["PAYMENT_PROVIDERS"]
    assert all(m["metadata"].get("namespace") == "shop" for m in manifests if m["kind"] != "Namespace")
    [namespace] = of_kind(manifests, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_network_policies_allow_only_edge_gateway_services_databases(
    rendered: dict[str, list[Manifest]],
) -> None:
    policies = of_kind(rendered["production"], "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    # Only the ingress controller reaches the gateway (and monitoring its /metrics); only the gateway and
    # the services reach the services.
    [from_edge] = policies["gateway"]["spec"]["ingress"]
    assert from_edge["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    [to_services] = policies["services"]["spec"]["ingress"]
    assert {tuple(peer["podSelector"]["matchLabels"].values()) for peer in to_services["from"]} == {
        ("gateway",),
        ("service",),
    }
    [to_mongodb] = policies["database-clients"]["spec"]["egress"]
    assert to_mongodb["ports"] == [{"protocol": "TCP", "port": 27017}]
    assert to_mongodb["to"][0]["ipBlock"]["cidr"] == "10.20.0.0/16"  # the overlay's, not the base's


def test_metrics_stay_inside_the_cluster(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["production"]
    [gateway] = of_kind(manifests, "Deployment")["gateway"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "METRICS_PORT", "value": "9100"} in gateway["env"]
    [ingress] = of_kind(manifests, "Ingress").values()
    routed = {path["path"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]}
    assert routed == {"/api", "/health", "/openapi.json", "/docs"}
    [from_monitoring] = of_kind(manifests, "NetworkPolicy")["metrics"]["spec"]["ingress"]
    assert {"protocol": "TCP", "port": 9100} in from_monitoring["ports"]
