"""Dagster resources: thin configurable handles on the domain core."""

from .environment import build_resources
from .platform import ModelsResource, PlatformResource, QualityResource

__all__ = ["ModelsResource", "PlatformResource", "QualityResource", "build_resources"]
