"""Dagster resources: thin configurable handles on the domain core."""

from resources.environment import build_resources
from resources.platform import ModelsResource, PlatformResource, QualityResource

__all__ = ["ModelsResource", "PlatformResource", "QualityResource", "build_resources"]
