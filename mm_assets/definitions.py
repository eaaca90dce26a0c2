"""The code location: one `dg.Definitions` per domain, merged. Nothing happens at import but building
definitions: the asset graph comes from the registered modality plugins."""

import dagster as dg

from mm_assets.joint import joint_definitions
from mm_assets.modality import modality_definitions
from mm_assets.models import model_definitions
from mm_assets.tenants import tenant_definitions
from mm_platform.modalities.registry import registered_modalities
from resources import environment_definitions

MODALITIES = registered_modalities()
MODALITY_DEFINITIONS = {name: modality_definitions(m) for name, m in MODALITIES.items()}

defs = dg.Definitions.merge(
    *MODALITY_DEFINITIONS.values(),
    joint_definitions(MODALITIES),
    tenant_definitions(MODALITIES),
    model_definitions(),
    environment_definitions(),
)
