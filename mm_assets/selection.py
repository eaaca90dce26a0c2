"""What a tenant's run builds: only the modalities the tenant has (its files, as `tenant.yaml`
enables them), plus the joint evaluation where it has joint requests. The CLI, the data sensor and
the nightly schedule all launch with this selection, so a FAQ-only tenant's run has FAQ steps only."""

from __future__ import annotations

import dagster as dg

from mm_platform.inputs.tenancy import Layout
from mm_platform.inputs.tenant_config import load_tenant_config
from mm_platform.inputs.validation import InputFileError
from mm_platform.modalities.base import Modality

JOINT_EVALUATION = dg.AssetKey(["joint", "evaluation"])
PIPELINE_ASSETS = ("validated_dataset", "embeddings", "index_candidate", "evaluation", "live_index")


def modality_asset_keys(modality: Modality) -> list[dg.AssetKey]:
    names = list(PIPELINE_ASSETS)
    if getattr(modality, "derived_name", None):
        names.insert(1, modality.derived_name)
    return [dg.AssetKey([modality.name, n]) for n in names]


def tenant_modalities(layout: Layout, tenant: str, modalities: dict[str, Modality]) -> list[str]:
    """The modalities whose input the tenant has and enables (a broken tenant.yaml or input file:
    every modality with a file, so the run fails on it and says why)."""
    folder = layout.tenant_data(tenant)
    try:
        config = load_tenant_config(folder)
    except InputFileError:
        config = None
    out = []
    for name, modality in modalities.items():
        try:
            present = modality.present(folder)
        except InputFileError:
            present = True
        if present and (config is None or config.enabled(name)):
            out.append(name)
    return out


def has_joint_requests(layout: Layout, tenant: str) -> bool:
    from mm_platform.retrieval.joint import parse_joint_requests

    try:
        requests, _ = parse_joint_requests(layout.tenant_data(tenant))
    except InputFileError:
        return False
    return bool(requests)


def tenant_asset_keys(layout: Layout, tenant: str, modalities: dict[str, Modality]) -> list[dg.AssetKey]:
    present = tenant_modalities(layout, tenant, modalities)
    keys = [key for name in present for key in modality_asset_keys(modalities[name])]
    if "faq" in present and len(present) > 1 and has_joint_requests(layout, tenant):
        keys.append(JOINT_EVALUATION)
    return keys
