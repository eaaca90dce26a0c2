"""The one place that picks what differs between environments: resources and executor.

`MM_ENV=local` (the default: `mm run`, `dagster dev`, tests) runs every step of a run in the run's
own process (what `mm run` does, so a run launched from the UI costs what the CLI's does: one
subprocess per step would reload the models for every step) with local folders. `MM_ENV=production`
(the Helm deployment) launches each step as a Kubernetes job (`dagster-k8s`), steps tagged for GPU
nodes where `jobs/k8s.py` says so. `MM_EXECUTOR` overrides the executor (`in_process`,
`multiprocess`, `k8s`). Locations come from `dg.EnvVar`s, so the UI shows where they are read from.
"""

import os

import dagster as dg

from mm_platform import settings
from resources.platform import ModelsResource, PlatformResource, PushgatewayResource, QualityResource, RegistryResource


def _env_or(name: str, default: str):
    """`dg.EnvVar(name)` where the variable is set (resolved at run time), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def environment() -> str:
    value = os.environ.get("MM_ENV", "local")
    if value not in ("local", "production"):
        raise ValueError(f"MM_ENV={value!r}: expected local or production")
    return value


def build_resources() -> dict:
    """Resources located by `MM_DATA_DIR` / `MM_STORAGE_DIR` (defaults `data/tenants`, `storage`).

    Small pickled references between assets live under the artifact store, so every pod that
    mounts `MM_STORAGE_DIR` sees them."""
    storage = _env_or("MM_STORAGE_DIR", str(settings.storage_dir()))
    return {
        "platform": PlatformResource(data_dir=_env_or("MM_DATA_DIR", str(settings.data_dir())), storage_dir=storage),
        "models": ModelsResource(text_encoder=_env_or("MM_TEXT_ENCODER", settings.DEFAULT_TEXT_ENCODER),
                                 text_model_path=_env_or("MM_TEXT_MODEL_PATH", ""),
                                 # the ensemble's second encoder ("none": the main encoder alone)
                                 text2_encoder=_env_or("MM_TEXT2_ENCODER", "multilingual-e5-small")),
        "quality": QualityResource(),
        "registry": RegistryResource(storage_dir=storage),
        "pushgateway": PushgatewayResource(url=_env_or("MM_PUSHGATEWAY_URL", "")),
        "io_manager": dg.FilesystemIOManager(base_dir=os.path.join(str(settings.storage_dir()), ".dagster_io")),
    }


def executor() -> dg.ExecutorDefinition:
    choice = os.environ.get("MM_EXECUTOR") or ("k8s" if environment() == "production" else "in_process")
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured({"max_concurrent": int(os.environ.get("MM_K8S_MAX_CONCURRENT", "8"))})
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": int(os.environ.get("MM_MAX_CONCURRENT", "2"))})
    raise ValueError(f"MM_EXECUTOR={choice!r}: expected in_process, multiprocess or k8s")


def environment_definitions() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(), executor=executor())
