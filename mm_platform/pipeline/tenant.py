"""What a tenant's pipeline runs with: its index stores, its models (tenant.yaml over the platform's
defaults, the second encoder only within the retrieval budget) and its gates."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

from mm_platform.atomic import atomic_write_json
from mm_platform.encoders.models import DEFAULT_MODELS, ModelSet
from mm_platform.evaluation.gates import GateConfig
from mm_platform.indexing.store import IndexStore
from mm_platform.inputs.tenancy import Layout
from mm_platform.inputs.tenant_config import load_tenant_config
from mm_platform.modalities.base import Modality
from mm_platform.retrieval.selection import SelectionSettings

log = logging.getLogger(__name__)
FAQ = "faq"
DEFAULT_KEEP_VERSIONS = 5
Progress = Callable[[int, int], None]


def index_store(layout: Layout, tenant: str, modality: str = FAQ) -> IndexStore:
    return IndexStore(layout.artifact(tenant, "indexes", modality), tenant, modality,
                      writer_dir=layout.tenant_storage(tenant))


def tenant_models(layout: Layout, tenant: str, defaults: dict | None = None,
                  max_query_cpu_ms: float | None = None) -> ModelSet:
    """The platform's model choices by role, overridden by the tenant's `tenant.yaml`. The second
    text encoder is kept only where it loads and its query cost fits the tenant's retrieval budget
    (`retrieval.max_query_cpu_ms`): its views would otherwise be computed for nothing."""
    from mm_platform.encoders.models import DISABLED, safe_model_path

    cfg = load_tenant_config(layout.tenant_data(tenant))
    choices = {role: dict(spec) for role, spec in (defaults or DEFAULT_MODELS).items()}
    for role, spec in cfg.models.items():  # a tenant's own model folder gets the registry's checks
        if spec.get("model_path"):
            spec = {**spec, "model_path": safe_model_path(str(spec["model_path"]), spec["name"])}
        choices[role] = spec
    choices = {role: spec for role, spec in choices.items() if spec.get("name") != DISABLED}
    models = ModelSet(choices=choices)
    if models.has("text2"):
        budget = cfg.retrieval.get("max_query_cpu_ms", max_query_cpu_ms if max_query_cpu_ms is not None
                                   else SelectionSettings().max_query_cpu_ms)
        try:
            costs_dir = layout.storage_dir / "_registry"
            cost = encoder_query_cost_ms(models.get("text"), costs_dir) + encoder_query_cost_ms(models.get("text2"), costs_dir)
        except (ImportError, OSError, ValueError) as exc:
            log.warning("second text encoder %s unavailable: %s", choices["text2"].get("name"), exc)
            cost = None
        if cost is None or cost > budget:
            choices.pop("text2")
            models = ModelSet(choices=choices)
    return models


def encoder_query_cost_ms(encoder, cache_dir: Path | None = None) -> float:
    """CPU ms of one query through a text encoder: measured once per model and machine (kept in
    `cache_dir/encoder_costs.json` when given, keyed by the model's key and the host), since
    measuring means loading the model, which a run with nothing to encode should not pay."""
    import platform as host

    from mm_platform.evaluation.timing import cpu_cost_ms

    cost = getattr(encoder, "_query_cost_ms", None)
    if cost is not None:
        return cost
    path = Path(cache_dir) / "encoder_costs.json" if cache_dir else None
    known = json.loads(path.read_text("utf-8")) if path and path.is_file() else {}
    key = f"{encoder.key}@{host.node()}"
    cost = known.get(key)
    if cost is None:
        cost = cpu_cost_ms(lambda i: encoder.encode_queries([f"how long does delivery take {i}"]))
        if path:
            atomic_write_json(path, {**known, key: cost})
    encoder._query_cost_ms = cost
    return cost


def gates_for(layout: Layout, tenant: str, modality: Modality, base: GateConfig) -> GateConfig:
    """The built-in defaults, then the modality's own defaults, then what the platform configured
    (a platform setting that differs from the built-in default wins over the modality's), then the
    tenant's tenant.yaml."""
    tenant_cfg = load_tenant_config(layout.tenant_data(tenant))
    builtin = GateConfig()
    modality_defaults = {k: v for k, v in modality.default_gates.items() if getattr(base, k) == getattr(builtin, k)}
    return tenant_cfg.gate_config(base.with_overrides(modality_defaults), modality.name)
