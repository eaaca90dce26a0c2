"""The modalities registered through entry points (built-ins register the same way)."""

from __future__ import annotations

import re

from mm_platform import plugins
from mm_platform.modalities.base import Modality

NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def registered_modalities() -> dict[str, Modality]:
    """Instances of every loadable modality plugin, FAQ first; bad ones are reported, not fatal."""
    found: dict[str, Modality] = {}
    for name, cls in plugins.load_group(plugins.MODALITY_GROUP).items():
        try:
            instance = cls()
            if not isinstance(instance, Modality) or not NAME.fullmatch(instance.name):
                raise TypeError(f"{cls!r} is not a Modality with a lower-case identifier name")
            found[instance.name] = instance
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not take the others down
            plugins.log.error("modality plugin %r is broken: %s", name, exc)
    return dict(sorted(found.items(), key=lambda kv: (kv[0] != "faq", kv[0])))


def query_fields() -> tuple[str, ...]:
    return tuple(m.query_field for m in registered_modalities().values())
