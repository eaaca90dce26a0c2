"""Plugin discovery through Python entry points; a broken plugin is reported by name and does
not take the others down.

Groups (a plugin package declares any of them in its own pyproject):

- `mm_platform.modalities`: a `Modality` subclass (see `mm_platform.modalities.base`)
- `mm_platform.text_encoders`: a `TextEncoder` subclass
- `mm_platform.image_encoders`: an `ImageEncoder` subclass
- `mm_platform.asr_backends`: a `SpeechRecognizer` subclass
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points

log = logging.getLogger(__name__)

MODALITY_GROUP = "mm_platform.modalities"
TEXT_ENCODER_GROUP = "mm_platform.text_encoders"
IMAGE_ENCODER_GROUP = "mm_platform.image_encoders"
ASR_GROUP = "mm_platform.asr_backends"
GROUPS = (MODALITY_GROUP, TEXT_ENCODER_GROUP, IMAGE_ENCODER_GROUP, ASR_GROUP)


@dataclass(frozen=True)
class PluginError:
    group: str
    name: str
    error: str


@lru_cache(maxsize=None)
def _load_group(group: str) -> tuple[dict, tuple[PluginError, ...]]:
    loaded, errors = {}, []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            loaded[ep.name] = ep.load()
        except Exception as exc:  # noqa: BLE001 - any plugin failure is isolated and reported
            log.error("plugin %r (%s) failed to load: %s", ep.name, group, exc)
            errors.append(PluginError(group, ep.name, f"{type(exc).__name__}: {exc}"))
    return loaded, tuple(errors)


def load_group(group: str) -> dict:
    return dict(_load_group(group)[0])


def text_encoder_backends() -> dict:
    return load_group(TEXT_ENCODER_GROUP)


def plugin_errors() -> list[PluginError]:
    return [e for g in GROUPS for e in _load_group(g)[1]]


def refresh() -> None:
    """Forget what was discovered (after installing a plugin into a running process)."""
    _load_group.cache_clear()
