"""Kubernetes specs of the deployment, checked with the Kubernetes client models and with
dagster-k8s's own code.

1. Every Kubernetes dict -- jobs/k8s.py (GPU_STEP / CPU_STEP), the k8s pieces of the Helm values
   (resources, volumes, volumeMounts, env, security contexts, probes ...), the per-tenant values
   and every manifest under deploy/k8s/ -- is parsed with `dagster_k8s.models.k8s_model_from_dict`
   into the right `kubernetes.client` model, so a misspelled key or a wrong type fails here.
   The Helm values only use keys of the official chart's schema.
2. Every GPU asset step gets its GPU on every launch path. For each path (UI materialization of
   everything or of a selection, a launchpad run with its own run-level k8s tag, the
   `tenant_data_sensor`, the `nightly_reindex_schedule`, a backfill, a declarative-automation tick)
   the run is created with the tags that path sets, on an instance whose K8sRunLauncher, run queue
   and pools are rendered from deploy/helm/values.yaml, in a code location whose container context
   is what the chart's includeConfigInLaunchedRuns sends; then dagster-k8s's own
   `K8sStepHandler.launch_step` (the k8s_job_executor of jobs/k8s.py, with a mocked Kubernetes
   API) builds each step's Job. GPU steps must request `nvidia.com/gpu` with exactly the GPU node
   selector and the `nvidia.com/gpu` toleration; every other step and every run pod requests no
   GPU. Every pod mounts the artifact store.

`python -m tests.deploy.test_k8s_specs render deploy/helm/tenants/<tenant>.yaml` prints the
tenant's dedicated retrieval manifests (used by deploy/README.md).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import kubernetes.client as k8s
import pytest
import yaml
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
TENANT_VALUES = sorted((DEPLOY / "helm" / "tenants").glob("*.yaml"))
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
NAMESPACE = "mm-platform"
RELEASE = "dagster"
TENANT = "ecommerce"
GPU = "nvidia.com/gpu"

MODELS = {  # (apiVersion, kind) -> model
    ("apps/v1", "Deployment"): k8s.V1Deployment,
    ("v1", "Service"): k8s.V1Service,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.V2HorizontalPodAutoscaler,
    ("policy/v1", "PodDisruptionBudget"): k8s.V1PodDisruptionBudget,
    ("v1", "PersistentVolumeClaim"): k8s.V1PersistentVolumeClaim,
}


def parse(model, data):
    """camelCase or snake_case dict -> validated kubernetes client model (raises on bad keys/types)."""
    return k8s_model_from_dict(model, k8s_snake_case_dict(model, data))


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]


def helm_values() -> dict:
    return yaml.safe_load(HELM_VALUES.read_text("utf-8"))


def code_location(values: dict) -> dict:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _snake_keys(obj):
    """What the chart's snakeCaseDictRecursive does to runK8sConfig."""
    if isinstance(obj, dict):
        return {_snake(k): _snake_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_snake_keys(v) for v in obj]
    return obj


# -- the official chart's value keys (helm/dagster/schema of dagster-io/dagster) used here -------

CHART_KEYS = {
    "global": {"postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName"},
    "postgresql": {"postgresqlScheme", "image", "enabled", "postgresqlHost", "postgresqlUsername",
                   "postgresqlPassword", "postgresqlDatabase", "postgresqlParams", "service"},
    "telemetry": {"enabled"},
    "dagsterWebserver": {"replicaCount", "image", "nameOverride", "pathPrefix", "service", "workspace", "env",
                         "envConfigMaps", "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity",
                         "tolerations", "podSecurityContext", "securityContext", "resources", "readinessProbe",
                         "livenessProbe", "startupProbe", "annotations", "enableReadOnly", "dbStatementTimeout",
                         "dbPoolRecycle", "logLevel", "schedulerName", "volumeMounts", "volumes"},
    "dagster-user-deployments": {"enabled", "enableSubchart", "imagePullSecrets", "deployments"},
    "deployment": {"name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns",
                   "deploymentNamespace", "port", "replicaCount", "env", "envConfigMaps", "envSecrets",
                   "annotations", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
                   "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "labels",
                   "volumeMounts", "volumes", "schedulerName", "initContainers", "sidecarContainers",
                   "deploymentStrategy"},
    "runLauncher": {"type", "config"},
    "k8sRunLauncher": {"image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile",
                       "envConfigMaps", "envSecrets", "envVars", "volumeMounts", "volumes", "labels",
                       "failPodOnRunFailure", "resources", "schedulerName", "securityContext", "runK8sConfig"},
    "runK8sConfig": {"containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig", "jobMetadata"},
    "dagsterDaemon": {"enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps",
                      "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations",
                      "podSecurityContext", "securityContext", "resources", "checkDbReadyInitContainer",
                      "livenessProbe", "readinessProbe", "startupProbe", "annotations", "runMonitoring",
                      "runRetries", "sensors", "schedules", "backfills", "schedulerName", "logFormat",
                      "volumeMounts", "volumes", "initContainerResources", "extraContainers",
                      "extraPrependedInitContainers"},
    "runCoordinator": {"enabled", "type", "config"},
    "queuedRunCoordinator": {"maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds",
                             "dequeueNumWorkers", "dequeueUseThreads", "blockOpConcurrencyLimitedRuns"},
    "tagConcurrencyLimit": {"key", "value", "limit"},
    "runMonitoring": {"enabled", "startTimeoutSeconds", "cancelTimeoutSeconds", "maxResumeRunAttempts",
                      "pollIntervalSeconds", "freeSlotsAfterRunEndSeconds", "maxRuntimeSeconds"},
    "runRetries": {"enabled", "maxRetries", "retryOnAssetOrOpFailure"},
    "concurrency": {"enabled", "pools", "runs"},
    "pools": {"defaultLimit", "granularity", "opGranularityRunBuffer"},
    "runs": {"maxConcurrentRuns", "tagConcurrencyLimits"},
}
TOP_LEVEL_KEYS = {"global", "generatePostgresqlPasswordSecret", "generateCeleryConfigSecret", "telemetry",
                  "postgresql", "dagsterWebserver", "dagster-user-deployments", "runLauncher", "dagsterDaemon",
                  "concurrency", "imagePullSecrets", "computeLogManager", "scheduler", "pythonLogs", "busybox",
                  "migrate", "serviceAccount", "retention", "additionalInstanceConfig", "ingress", "rabbitmq",
                  "redis", "flower", "nameOverride", "fullnameOverride", "rbacEnabled"}


def _keys_ok(section: str, data: dict) -> None:
    unknown = set(data) - CHART_KEYS[section]
    assert not unknown, f"{section}: keys not in the dagster chart's schema: {sorted(unknown)}"


# -- 1. every Kubernetes dict parses -----------------------------------------------------------


def test_step_tags_in_jobs_k8s_are_valid_k8s_and_dagster_k8s_config():
    from dagster_k8s.job import UserDefinedDagsterK8sConfig

    from jobs.k8s import CPU_STEP, GPU_NODE_SELECTOR, GPU_STEP, GPU_TOLERATIONS, step_op_tags

    pods = {}
    for name, step in (("gpu", GPU_STEP), ("cpu", CPU_STEP)):
        UserDefinedDagsterK8sConfig.from_dict(step)  # dagster-k8s accepts the shape
        container = parse(k8s.V1Container, {"name": "step", **step["container_config"]})
        parse(k8s.V1ResourceRequirements, step["container_config"]["resources"])
        assert container.resources.requests and container.resources.limits
        pods[name] = parse(k8s.V1PodSpec, {"containers": [{"name": "step"}], **step.get("pod_spec_config", {})})
    assert pods["gpu"].node_selector == GPU_NODE_SELECTOR and not pods["cpu"].node_selector
    tolerations = [parse(k8s.V1Toleration, t) for t in GPU_TOLERATIONS]
    assert [(t.key, t.operator, t.effect) for t in tolerations] == [(GPU, "Exists", "NoSchedule")]
    gpu_res = GPU_STEP["container_config"]["resources"]
    assert gpu_res["requests"][GPU] == gpu_res["limits"][GPU] == "1"  # extended resources: request == limit
    assert GPU not in json.dumps(CPU_STEP)
    assert step_op_tags(True)["dagster-k8s/config"] is GPU_STEP


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_parse_into_kubernetes_models(path):
    docs = load_docs(path)
    assert docs
    for doc in docs:
        model = MODELS.get((doc.get("apiVersion"), doc.get("kind")))
        assert model, f"{path.name}: unexpected {doc.get('apiVersion')} {doc.get('kind')}"
        obj = parse(model, doc)
        assert obj.metadata.name and obj.metadata.namespace == NAMESPACE


def _by_kind(docs: list[dict]) -> dict[str, dict]:
    return {d["kind"]: d for d in docs}


def test_storage_claims_are_read_write_many():
    claims = [parse(k8s.V1PersistentVolumeClaim, d) for d in load_docs(DEPLOY / "k8s" / "storage.yaml")]
    assert {c.metadata.name for c in claims} == {"mm-artifacts", "mm-tenant-data", "mm-models"}
    for claim in claims:
        assert claim.spec.access_modes == ["ReadWriteMany"], claim.metadata.name
        assert claim.spec.resources.requests["storage"]


def check_retrieval_objects(docs: list[dict], name: str, keys_secret: str, artifacts_sub_path: str | None) -> None:
    objs = _by_kind(docs)
    dep = parse(k8s.V1Deployment, objs["Deployment"])
    svc = parse(k8s.V1Service, objs["Service"])
    hpa = parse(k8s.V2HorizontalPodAutoscaler, objs["HorizontalPodAutoscaler"])
    pdb = parse(k8s.V1PodDisruptionBudget, objs["PodDisruptionBudget"])
    pod = dep.spec.template.spec
    labels = dep.spec.template.metadata.labels
    assert dep.metadata.name == svc.metadata.name == hpa.metadata.name == pdb.metadata.name == name
    assert dep.spec.selector.match_labels.items() <= labels.items()
    (c,) = pod.containers
    assert c.command[:2] == ["mm", "serve"]
    assert c.command[c.command.index("--host") + 1] == "0.0.0.0" and c.command[c.command.index("--port") + 1] == "8000"
    assert [p.container_port for p in c.ports] == [8000]
    assert c.readiness_probe.http_get.path == "/readyz" and c.liveness_probe.http_get.path == "/healthz"
    assert c.readiness_probe.http_get.port == c.liveness_probe.http_get.port == c.ports[0].name
    assert c.resources.requests["cpu"], "the HPA scales on CPU utilization of the request"
    env = {e.name: e.value for e in c.env}
    assert env["MM_STORAGE_DIR"] == "/artifacts" and env["HF_HUB_OFFLINE"] == "1"
    volumes = {v.name: v for v in pod.volumes}
    mounts = {m.mount_path: m for m in c.volume_mounts}
    assert len(volumes) == len(pod.volumes) and len(mounts) == len(c.volume_mounts)
    # the artifact store: read-only at the mount AND on the claim
    artifact_mounts = [m for m in c.volume_mounts if volumes[m.name].persistent_volume_claim
                       and volumes[m.name].persistent_volume_claim.claim_name == "mm-artifacts"]
    assert artifact_mounts and all(m.read_only for m in artifact_mounts)
    assert all(volumes[m.name].persistent_volume_claim.read_only for m in artifact_mounts)
    if artifacts_sub_path:  # a dedicated service sees only its tenant's folder
        (m,) = artifact_mounts
        assert m.sub_path == artifacts_sub_path and m.mount_path == f"/artifacts/{artifacts_sub_path}"
    else:
        assert [m.mount_path for m in artifact_mounts] == ["/artifacts"]
    # MM_API_KEYS_FILE is a file of the keys Secret volume
    keys_file = Path(env["MM_API_KEYS_FILE"])
    key_mount = mounts[str(keys_file.parent)]
    secret = volumes[key_mount.name].secret
    assert key_mount.read_only and secret.secret_name == keys_secret
    assert keys_file.name in {item.path for item in secret.items}
    assert c.security_context.read_only_root_filesystem and not c.security_context.allow_privilege_escalation
    assert pod.security_context.run_as_non_root
    # Service -> named container port; HPA -> this Deployment on CPU; PDB -> these pods
    assert svc.spec.selector.items() <= labels.items()
    assert [p.target_port for p in svc.spec.ports] == [c.ports[0].name]
    assert (hpa.spec.scale_target_ref.kind, hpa.spec.scale_target_ref.name) == ("Deployment", name)
    (metric,) = hpa.spec.metrics
    assert metric.type == "Resource" and metric.resource.name == "cpu"
    assert metric.resource.target.type == "Utilization" and 0 < metric.resource.target.average_utilization <= 100
    assert 1 <= hpa.spec.min_replicas <= hpa.spec.max_replicas
    assert pdb.spec.selector.match_labels.items() <= labels.items()
    assert int(pdb.spec.min_available) < hpa.spec.min_replicas, "a PDB as large as the floor blocks node drains"
    claims = {d["metadata"]["name"] for d in load_docs(DEPLOY / "k8s" / "storage.yaml")}
    assert {v.persistent_volume_claim.claim_name for v in pod.volumes if v.persistent_volume_claim} <= claims


def test_retrieval_service_semantics():
    check_retrieval_objects(load_docs(DEPLOY / "k8s" / "retrieval-service.yaml"), "mm-retrieval",
                            "mm-retrieval-api-keys", None)


def _check_pod_pieces(where: str, d: dict) -> None:
    """The Kubernetes pieces of one Helm section, each through its client model."""
    if d.get("resources"):
        parse(k8s.V1ResourceRequirements, d["resources"])
    for v in d.get("volumes") or []:
        parse(k8s.V1Volume, v)
    for m in d.get("volumeMounts") or []:
        parse(k8s.V1VolumeMount, m)
    env = d.get("env")
    if isinstance(env, list):
        for e in env:
            parse(k8s.V1EnvVar, e)
    for s in d.get("envSecrets") or []:
        parse(k8s.V1SecretEnvSource, s)
    for c in d.get("envConfigMaps") or []:
        parse(k8s.V1ConfigMapEnvSource, c)
    for t in d.get("tolerations") or []:
        parse(k8s.V1Toleration, t)
    if d.get("nodeSelector"):
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in d["nodeSelector"].items()), where
    if d.get("affinity"):
        parse(k8s.V1Affinity, d["affinity"])
    if d.get("securityContext"):
        parse(k8s.V1SecurityContext, d["securityContext"])
    if d.get("podSecurityContext"):
        parse(k8s.V1PodSecurityContext, d["podSecurityContext"])
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if d.get(probe):
            parse(k8s.V1Probe, {k: v for k, v in d[probe].items() if k != "enabled"})
    names = [v["name"] for v in d.get("volumes") or []]
    assert len(names) == len(set(names)), f"{where}: duplicate volume names"
    assert {m["name"] for m in d.get("volumeMounts") or []} <= set(names), f"{where}: mount of an unknown volume"


def test_helm_values_use_chart_keys_and_valid_k8s_pieces():
    values = helm_values()
    assert set(values) <= TOP_LEVEL_KEYS, set(values) - TOP_LEVEL_KEYS
    for section in ("global", "postgresql", "telemetry", "dagsterWebserver", "dagster-user-deployments",
                    "runLauncher", "dagsterDaemon", "concurrency"):
        _keys_ok(section, values[section])
    _keys_ok("pools", values["concurrency"]["pools"])
    deployment = code_location(values)
    _keys_ok("deployment", deployment)
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher" and set(values["runLauncher"]["config"]) == {"k8sRunLauncher"}
    _keys_ok("k8sRunLauncher", launcher)
    _keys_ok("runK8sConfig", launcher["runK8sConfig"])
    daemon = values["dagsterDaemon"]
    _keys_ok("runCoordinator", daemon["runCoordinator"])
    qrc = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    _keys_ok("queuedRunCoordinator", qrc)
    runs = values["concurrency"]["runs"]
    _keys_ok("runs", runs)
    for limit in runs["tagConcurrencyLimits"]:
        _keys_ok("tagConcurrencyLimit", limit)
    _keys_ok("runMonitoring", daemon["runMonitoring"])
    _keys_ok("runRetries", daemon["runRetries"])
    # with a `concurrency` block, Dagster rejects run limits under the run coordinator (and the
    # chart refuses them in both places): they live in concurrency.runs only
    assert not {"maxConcurrentRuns", "tagConcurrencyLimits"} & set(qrc)

    for where, section in (("webserver", values["dagsterWebserver"]), ("code location", deployment),
                           ("run launcher", launcher), ("daemon", daemon)):
        _check_pod_pieces(where, section)
    jsc = launcher["runK8sConfig"]["jobSpecConfig"]
    parse(k8s.V1JobSpec, {"template": {}, **jsc})

    # the code location: module, executor, directories, storage mounted where the env says
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "mm_assets.definitions"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["MM_EXECUTOR"] == "k8s" and env["HF_HUB_OFFLINE"] == "1"
    for where, mounts, volumes in (("code location", deployment["volumeMounts"], deployment["volumes"]),
                                   ("run launcher", launcher["volumeMounts"], launcher["volumes"])):
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in volumes}
        at = {m["mountPath"]: (claims[m["name"]], m.get("readOnly", False)) for m in mounts}
        assert at[env["MM_STORAGE_DIR"]] == ("mm-artifacts", False), where
        assert at[env["MM_DATA_DIR"]] == ("mm-tenant-data", True), where
    launcher_env = dict(v.split("=", 1) for v in launcher["envVars"])
    assert {k: env[k] for k in launcher_env} == launcher_env, "run pods must see the same directories"
    # nothing that would be merged into GPU step pods and pin them elsewhere
    for section in (deployment, launcher):
        assert not section.get("nodeSelector") and not section.get("affinity") and not section.get("tolerations")
        assert GPU not in json.dumps(section)

    # storage and the one-run-per-tenant queue
    pg = values["postgresql"]
    assert pg["postgresqlScheme"] == "postgresql+psycopg2"
    assert pg["enabled"] is False and pg["postgresqlHost"] and values["generatePostgresqlPasswordSecret"] is False
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in runs["tagConcurrencyLimits"]
    assert values["concurrency"]["enabled"] and values["concurrency"]["pools"]["granularity"] == "op"
    assert values["concurrency"]["pools"]["defaultLimit"] >= 1


def render_tenant_retrieval(tenant_values: dict, base_docs: list[dict] | None = None) -> list[dict]:
    """The dedicated retrieval objects of one tenant, derived from deploy/k8s/retrieval-service.yaml
    (empty when the tenant is served by the shared Deployment)."""
    tenant, spec = tenant_values["tenant"], tenant_values["retrieval"]
    if not spec.get("dedicated"):
        return []
    docs = copy.deepcopy(base_docs or load_docs(DEPLOY / "k8s" / "retrieval-service.yaml"))
    name = f"mm-retrieval-{tenant}"
    extra = {"app.kubernetes.io/name": name, "mm.platform/tenant": tenant}
    for doc in docs:
        doc["metadata"]["name"] = name
        doc["metadata"]["labels"] = {**doc["metadata"].get("labels", {}), **extra}
    objs = _by_kind(docs)
    dep = objs["Deployment"]["spec"]
    dep["replicas"] = spec["replicas"]["min"]
    dep["selector"]["matchLabels"] = {"app.kubernetes.io/name": name}
    dep["template"]["metadata"]["labels"] = {**dep["template"]["metadata"]["labels"], **extra}
    pod = dep["template"]["spec"]
    for constraint in pod.get("topologySpreadConstraints", []):
        constraint["labelSelector"]["matchLabels"] = {"app.kubernetes.io/name": name}
    (container,) = pod["containers"]
    if spec.get("resources"):
        container["resources"] = spec["resources"]
    artifacts = next(v["name"] for v in pod["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName") == "mm-artifacts")
    for mount in container["volumeMounts"]:
        if mount["name"] == artifacts:  # only this tenant's folder of the artifact store
            mount.update({"mountPath": f"/artifacts/{tenant}", "subPath": tenant, "readOnly": True})
    for volume in pod["volumes"]:
        if "secret" in volume:
            volume["secret"]["secretName"] = spec["apiKeysSecret"]
    objs["Service"]["spec"]["selector"] = {"app.kubernetes.io/name": name}
    hpa = objs["HorizontalPodAutoscaler"]["spec"]
    hpa["scaleTargetRef"]["name"] = name
    hpa["minReplicas"], hpa["maxReplicas"] = spec["replicas"]["min"], spec["replicas"]["max"]
    hpa["metrics"][0]["resource"]["target"]["averageUtilization"] = spec["targetCPUUtilization"]
    pdb = objs["PodDisruptionBudget"]["spec"]
    pdb["minAvailable"] = spec["minAvailable"]
    pdb["selector"]["matchLabels"] = {"app.kubernetes.io/name": name}
    return docs


@pytest.mark.parametrize("path", TENANT_VALUES, ids=lambda p: p.stem)
def test_per_tenant_values(path):
    from mm_platform.inputs.tenancy import validate_tenant_id

    values = yaml.safe_load(path.read_text("utf-8"))
    assert set(values) == {"tenant", "retrieval"}
    assert values["tenant"] == path.stem and validate_tenant_id(values["tenant"])
    spec = values["retrieval"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", spec["apiKeysSecret"]), "a DNS-1123 Secret name"
    docs = render_tenant_retrieval(values)
    if not spec["dedicated"]:
        assert docs == [] and spec["apiKeysSecret"] == "mm-retrieval-api-keys"
        return
    parse(k8s.V1ResourceRequirements, spec["resources"])
    check_retrieval_objects(docs, f"mm-retrieval-{values['tenant']}", spec["apiKeysSecret"], values["tenant"])
    hpa = parse(k8s.V2HorizontalPodAutoscaler, _by_kind(docs)["HorizontalPodAutoscaler"])
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (spec["replicas"]["min"], spec["replicas"]["max"])


# -- 2. GPU requests on every launch path, through dagster-k8s's own code ----------------------


def helm_instance_overrides(values: dict, kubeconfig: str) -> dict:
    """The instance config the chart renders from the values (run launcher, run queue, pools);
    `load_incluster_config: false` + a dummy kubeconfig stand in for the cluster."""
    c = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = {
        "load_incluster_config": False, "kubeconfig_file": kubeconfig,
        "job_namespace": c.get("jobNamespace") or NAMESPACE, "image_pull_policy": c["imagePullPolicy"],
        "service_account_name": RELEASE, "dagster_home": values["global"]["dagsterHome"],
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "env_config_maps": [f"{RELEASE}-pipeline-env", *[m["name"] for m in c.get("envConfigMaps") or []]],
        "env_secrets": [s["name"] for s in c.get("envSecrets") or []],
        "env_vars": c.get("envVars") or [], "volume_mounts": c.get("volumeMounts") or [],
        "volumes": c.get("volumes") or [], "labels": c.get("labels") or {},
    }
    if c.get("resources"):
        launcher["resources"] = c["resources"]
    if c.get("runK8sConfig"):
        launcher["run_k8s_config"] = _snake_keys(c["runK8sConfig"])
    qrc = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    pools, runs = values["concurrency"]["pools"], values["concurrency"]["runs"]
    return {
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher},
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator",
                            "config": {_snake(k): v for k, v in qrc.items()}},
        "concurrency": {
            "pools": {"default_limit": pools["defaultLimit"], "granularity": pools["granularity"],
                      "op_granularity_run_buffer": pools["opGranularityRunBuffer"]},
            "runs": {"max_concurrent_runs": runs["maxConcurrentRuns"],
                     "tag_concurrency_limits": runs["tagConcurrencyLimits"]}},
    }


def helm_container_context(values: dict) -> dict:
    """What the chart passes as the code location's container context with
    includeConfigInLaunchedRuns (dagsterUserDeployments.k8sContainerContext; since 1.13 also the
    node selector, tolerations and pod security context)."""
    d = code_location(values)
    pod_spec: dict = {"automount_service_account_token": True}
    if d.get("nodeSelector"):
        pod_spec["node_selector"] = d["nodeSelector"]
    if d.get("tolerations"):
        pod_spec["tolerations"] = d["tolerations"]
    if d.get("podSecurityContext"):
        pod_spec["security_context"] = d["podSecurityContext"]
    ctx = {
        "image_pull_policy": d["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{d['name']}-user-env", *[m["name"] for m in d.get("envConfigMaps") or []]],
        "env_secrets": [s["name"] for s in d.get("envSecrets") or []],
        "volume_mounts": d.get("volumeMounts") or [], "volumes": d.get("volumes") or [],
        "labels": d.get("labels") or {}, "namespace": NAMESPACE,
        "service_account_name": f"{RELEASE}-user-deployments",
        "env": d["env"] if isinstance(d.get("env"), list) else [],
        "run_k8s_config": {"pod_spec_config": pod_spec},
    }
    if d.get("resources"):
        ctx["resources"] = d["resources"]
    return {"k8s": ctx}


def _tenant_folder(data_dir: Path, tenant: str) -> None:
    folder = data_dir / tenant
    folder.mkdir(parents=True)
    rows = [{"question": f"q {lang}", "answer": "a", "language": lang, "annotation": "x"} for lang in ("en", "zh", "ja")]
    (folder / "faq.json").write_text(json.dumps(rows), "utf-8")


@contextlib.contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class K8sHarness:
    """A K8sRunLauncher instance rendered from the Helm values plus the k8s_job_executor of
    jobs/k8s.py; launches steps through dagster-k8s with the Kubernetes API mocked."""

    def __init__(self, instance, values: dict):
        from dagster._core.definitions.reconstruct import ReconstructableRepository

        from resources.environment import executor

        self.instance, self.values = instance, values
        self.image = "{repository}:{tag}".format(**code_location(values)["image"])
        self.repo = ReconstructableRepository.for_module("mm_assets.definitions", "defs", working_directory=str(ROOT))
        self.executor_def = executor()  # MM_EXECUTOR=k8s
        assert self.executor_def.name == "k8s"
        mapped = self.executor_def.apply_config_mapping({})
        assert mapped.success, mapped.errors
        self.executor_config = mapped.value["config"]
        self.container_context = helm_container_context(values)

    def origin(self, recon_job):
        origin = recon_job.get_python_origin()
        return origin._replace(repository_origin=origin.repository_origin._replace(
            container_image=self.image, container_context=self.container_context))

    def launch(self, job_name: str, tags: dict, asset_selection=None) -> tuple[dict, object, object]:
        """(step key -> V1Job, run-pod V1Job, the run) for one run launched with `tags`."""
        from dagster._core.execution.api import create_execution_plan
        from dagster._core.execution.context.system import PlanData, PlanOrchestrationContext
        from dagster._core.execution.context_creation_job import create_context_free_log_manager
        from dagster._core.execution.retries import RetryMode
        from dagster._core.executor.init import InitExecutorContext
        from dagster._core.executor.step_delegating.step_handler.base import StepHandlerContext
        from dagster._core.test_utils import create_run_for_test
        from dagster._grpc.types import ExecuteStepArgs
        from dagster_k8s.container_context import K8sContainerContext
        from dagster_k8s.job import construct_dagster_k8s_job

        recon_job = self.repo.get_reconstructable_job(job_name)
        if asset_selection:
            recon_job = recon_job.get_subset(asset_selection=frozenset(asset_selection))
        origin = self.origin(recon_job)
        run = create_run_for_test(self.instance, job_name=job_name, tags=tags, job_code_origin=origin,
                                  asset_selection=frozenset(asset_selection) if asset_selection else None)
        executor = self.executor_def.executor_creation_fn(InitExecutorContext(
            job=recon_job, executor_def=self.executor_def, executor_config=self.executor_config,
            instance=self.instance))
        handler = executor._step_handler  # noqa: SLF001 - the K8sStepHandler the executor would use
        batch_api = mock.MagicMock()
        handler._api_client.batch_api = batch_api  # noqa: SLF001 - no cluster: capture the Job bodies
        plan = create_execution_plan(recon_job, tags=run.tags)
        plan_context = PlanOrchestrationContext(
            plan_data=PlanData(job=recon_job, dagster_run=run, instance=self.instance, execution_plan=plan,
                               raise_on_error=True, retry_mode=RetryMode.DISABLED),
            log_manager=create_context_free_log_manager(self.instance, run), executor=executor, output_capture=None)
        jobs = {}
        for step in plan.steps:
            args = ExecuteStepArgs(origin, run.run_id, [step.key], print_serialized_events=False)
            list(handler.launch_step(StepHandlerContext(instance=self.instance, plan_context=plan_context,
                                                        steps=plan.steps, execute_step_args=args, dagster_run=run)))
            jobs[step.key] = (batch_api.create_namespaced_job.call_args.kwargs["body"], step)
        # the run pod, as K8sRunLauncher builds it (run-level tags apply here, not to steps)
        launcher = self.instance.run_launcher
        context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
        run_job = construct_dagster_k8s_job(
            job_config=context.get_k8s_job_config(self.image, launcher), args=["dagster", "api", "execute_run"],
            job_name=f"dagster-run-{run.run_id[:8]}", user_defined_k8s_config=context.run_k8s_config,
            component="run_worker", labels={"dagster/job": job_name})
        return jobs, run_job, run


def expected_gpu_steps() -> set[str]:
    from mm_platform.modalities.registry import registered_modalities

    expected = {"joint__evaluation"}
    for m in registered_modalities().values():
        if m.gpu:
            expected |= {f"{m.name}__embeddings", f"{m.name}__evaluation"}
            if getattr(m, "derived_name", None):
                expected.add(f"{m.name}__{m.derived_name}")
    # the built-in GPU modalities: a registry that lost one must not shrink what is checked
    assert {"image__embeddings", "image__evaluation", "speech__transcripts", "speech__embeddings",
            "speech__evaluation", "video__embeddings", "video__evaluation"} <= expected
    return expected


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    from dagster._core.test_utils import instance_for_test

    from mm_assets.partitions import tenant_partitions

    tmp = tmp_path_factory.mktemp("k8s")
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:9"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": NAMESPACE}}],
        "users": [{"name": "test", "user": {"token": "unused"}}]}))
    data_dir = tmp / "data"
    _tenant_folder(data_dir, TENANT)
    values = helm_values()
    with _env(MM_EXECUTOR="k8s", MM_DATA_DIR=str(data_dir), MM_STORAGE_DIR=str(tmp / "storage")):
        with instance_for_test(overrides=helm_instance_overrides(values, str(kubeconfig))) as instance:
            instance.add_dynamic_partitions(tenant_partitions.name, [TENANT])
            yield K8sHarness(instance, values)


def _resolved(request, job_def, instance) -> dict:
    return dict(request.with_resolved_tags_and_config(job_def, [], instance).tags)


def launch_paths(h: K8sHarness) -> dict[str, tuple[str, dict, set | None]]:
    """launch path -> (job, run tags as that path sets them, asset selection)."""
    if getattr(h, "paths", None) is None:
        h.paths = _launch_paths(h)
    return h.paths


def _launch_paths(h: K8sHarness) -> dict[str, tuple[str, dict, set | None]]:
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.storage.tags import PARTITION_NAME_TAG

    from mm_assets.definitions import defs
    from resources import PlatformResource

    index_job = defs.resolve_job_def("index_tenant")
    repo_def = defs.get_repository_def()
    tenant_data_sensor = defs.resolve_sensor_def("tenant_data_sensor")
    nightly_reindex_schedule = defs.resolve_schedule_def("nightly_reindex_schedule")
    platform = PlatformResource(data_dir=os.environ["MM_DATA_DIR"], storage_dir=os.environ["MM_STORAGE_DIR"])
    sensor_result = tenant_data_sensor(dg.build_sensor_context(instance=h.instance, cursor=None,
                                                               repository_def=repo_def,
                                                               resources={"platform": platform}))
    (sensor_request,) = [r for r in sensor_result.run_requests if r.partition_key == TENANT]
    schedule_ctx = dg.build_schedule_context(instance=h.instance, repository_def=repo_def, resources={"platform": platform},
                                             scheduled_execution_time=datetime(2026, 1, 2, 2, 0, tzinfo=timezone.utc))
    (schedule_request,) = nightly_reindex_schedule.evaluate_tick(schedule_ctx).run_requests
    partition = {PARTITION_NAME_TAG: TENANT}
    selection = {dg.AssetKey(["speech", "transcripts"]), dg.AssetKey(["image", "evaluation"]),
                 dg.AssetKey(["faq", "index_candidate"])}
    run_level_k8s = {"dagster-k8s/config": json.dumps({
        "container_config": {"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
        "pod_spec_config": {"node_selector": {"mm.platform/pool": "cpu"}}})}
    return {
        "ui-materialize-all": ("__ASSET_JOB", {**partition, "dagster/from_ui": "true"}, None),
        "ui-materialize-selection": ("__ASSET_JOB", {**partition, "dagster/from_ui": "true"}, selection),
        "launchpad-run-level-k8s-tag": ("index_tenant", {**partition, **run_level_k8s}, None),
        "sensor": ("index_tenant", {**_resolved(sensor_request, index_job, h.instance),
                                    **DagsterRun.tags_for_sensor(tenant_data_sensor),
                                    "dagster/run_key": sensor_request.run_key}, None),
        "schedule": ("index_tenant", {**_resolved(schedule_request, index_job, h.instance),
                                      **DagsterRun.tags_for_schedule(nightly_reindex_schedule),
                                      "dagster/run_key": schedule_request.run_key}, None),
        "backfill": ("__ASSET_JOB", {**partition, **DagsterRun.tags_for_backfill_id("mmbackfl")}, None),
        "automation-tick": ("__ASSET_JOB", {**partition, **DagsterRun.tags_for_tick_id("tick-1", True)},
                            {dg.AssetKey(["joint", "evaluation"])}),
    }


PATHS = ["ui-materialize-all", "ui-materialize-selection", "launchpad-run-level-k8s-tag", "sensor", "schedule",
         "backfill", "automation-tick"]


def _container(job):
    (container,) = job.spec.template.spec.containers
    return container


@pytest.mark.parametrize("path", PATHS)
def test_every_gpu_step_gets_its_gpu_on_every_launch_path(harness, path):
    from dagster._core.storage.tags import PARTITION_NAME_TAG
    from dagster._utils.tags import TagConcurrencyLimitsCounter

    from jobs.k8s import CPU_STEP, GPU_NODE_SELECTOR, GPU_POOL, GPU_STEP

    job_name, tags, selection = launch_paths(harness)[path]
    assert tags[PARTITION_NAME_TAG] == TENANT, f"{path}: a run without the tenant partition tag"
    jobs, run_job, run = harness.launch(job_name, tags, selection)
    # the per-tenant steps, plus the quantization step where a path launches the model assets too
    gpu_expected = expected_gpu_steps() | ({"models__quantized_checkpoints"} & {s.key for _, s in jobs.values()})
    launched_gpu = {key for key, (_, step) in jobs.items() if step.key in gpu_expected}
    assert launched_gpu, f"{path}: no GPU step in the plan"
    if selection is None:
        assert launched_gpu == gpu_expected, f"{path}: {gpu_expected - launched_gpu} not launched"
    cpu_resources = CPU_STEP["container_config"]["resources"]
    gpu_resources = GPU_STEP["container_config"]["resources"]
    default_resources = code_location(harness.values)["resources"]
    for key, (job, step) in jobs.items():
        assert isinstance(job, k8s.V1Job)
        pod = job.spec.template.spec
        container = _container(job)
        res = container.resources
        requests, limits = dict(res.requests or {}), dict(res.limits or {})
        tolerations = [(t.key, t.operator, t.effect) for t in pod.tolerations or []]
        if key in gpu_expected:
            assert requests == gpu_resources["requests"] and limits == gpu_resources["limits"], (path, key)
            assert pod.node_selector == GPU_NODE_SELECTOR, (path, key, pod.node_selector)
            assert (GPU, "Exists", "NoSchedule") in tolerations, (path, key)
            assert step.pool == GPU_POOL, (path, key)
        else:
            assert GPU not in requests and GPU not in limits, (path, key)
            assert not (pod.node_selector or {}), (path, key, pod.node_selector)
            assert all(t[0] != GPU for t in tolerations), (path, key)
            tagged = "dagster-k8s/config" in step.tags
            assert (requests, limits) == ((cpu_resources["requests"], cpu_resources["limits"]) if tagged else
                                          (default_resources["requests"], default_resources["limits"])), (path, key)
        # every step pod: the code location's image, the artifact store and tenant data mounted once
        assert container.image == harness.image
        mounts = {m.mount_path: m for m in container.volume_mounts}
        assert len(mounts) == len(container.volume_mounts), (path, key, "duplicate mount paths")
        assert mounts["/artifacts"].read_only in (None, False) and mounts["/data/tenants"].read_only
        volume_names = [v.name for v in pod.volumes]
        assert len(volume_names) == len(set(volume_names)), (path, key, "duplicate volumes")
        env = [e.name for e in container.env]
        assert len(env) == len(set(env)), (path, key, "duplicate env")
        assert {"MM_STORAGE_DIR", "MM_DATA_DIR", "MM_EXECUTOR"} <= set(env)
        assert pod.security_context.run_as_non_root, (path, key)
    # the run pod orchestrates: never a GPU, whatever the run-level tags say
    run_res = _container(run_job).resources
    assert GPU not in (run_res.requests or {}) and GPU not in (run_res.limits or {})
    assert GPU not in json.dumps(run_job.spec.template.spec.node_selector or {})
    # the run queue admits one run of this tenant at a time (per-unique-value tag limit)
    limits = harness.instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    counter = TagConcurrencyLimitsCounter(limits, [run])
    assert counter.is_blocked(run)
    other = run.with_tags({**run.tags, PARTITION_NAME_TAG: "medical"})
    assert not counter.is_blocked(other)


def test_pools_cover_every_asset_step(harness):
    """GPU asset steps are in pool `gpu`, the other asset steps in `cpu_index`; the instance
    rendered from the Helm values enforces pools per op with the configured default limit."""
    from dagster._core.execution.api import create_execution_plan

    from jobs.k8s import CPU_POOL, GPU_POOL

    plan = create_execution_plan(harness.repo.get_reconstructable_job("index_tenant"))
    gpu = expected_gpu_steps()
    asset_steps = {s.key: s for s in plan.steps if "dagster-k8s/config" in s.tags}
    assert gpu <= set(asset_steps)
    assert {k: s.pool for k, s in asset_steps.items()} == {k: GPU_POOL if k in gpu else CPU_POOL for k in asset_steps}
    pool_config = harness.instance.get_concurrency_config().pool_config
    assert pool_config.pool_granularity.value == "op"
    assert pool_config.default_pool_limit == harness.values["concurrency"]["pools"]["defaultLimit"]


if __name__ == "__main__":  # render a tenant's dedicated retrieval manifests (deploy/README.md)
    if len(sys.argv) != 3 or sys.argv[1] != "render":
        sys.exit("usage: python -m tests.deploy.test_k8s_specs render deploy/helm/tenants/<tenant>.yaml")
    rendered = render_tenant_retrieval(yaml.safe_load(Path(sys.argv[2]).read_text("utf-8")))
    print(yaml.safe_dump_all(rendered, sort_keys=False) if rendered else "# served by the shared mm-retrieval")
