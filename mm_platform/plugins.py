"""Plugin discovery through Python entry points; a broken plugin is reported, not fatal."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points

log = logging.getLogger(__name__)

TEXT_ENCODER_GROUP = "mm_platform.text_encoders"
MODALITY_GROUP = "mm_platform.modalities"


@dataclass(frozen=True)
class PluginError:
    group: str
    name: str
    error: str


@lru_cache(maxsize=None)
def _load_group(group: str) -> tuple[dict, tuple[PluginError, ...]]:
    loaded, errors = {}, []
    for ep in entry_points(group=group):
        try:
            loaded[ep.name] = ep.load()
        except Exception as exc:  # noqa: BLE001 - any plugin failure is isolated and reported
            log.error("plugin %s in %s failed to load: %s", ep.name, group, exc)
            errors.append(PluginError(group, ep.name, f"{type(exc).__name__}: {exc}"))
    return loaded, tuple(errors)


def text_encoder_backends() -> dict:
    return dict(_load_group(TEXT_ENCODER_GROUP)[0])


def plugin_errors() -> list[PluginError]:
    return [e for g in (TEXT_ENCODER_GROUP, MODALITY_GROUP) for e in _load_group(g)[1]]
