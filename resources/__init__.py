"""Dagster resources: thin configurable handles on the domain core, and the environment helper."""

from resources.environment import build_resources, environment_definitions, executor
from resources.platform import ModelsResource, PlatformResource, PushgatewayResource, QualityResource, RegistryResource

__all__ = ["ModelsResource", "PlatformResource", "PushgatewayResource", "QualityResource", "RegistryResource",
           "build_resources", "environment_definitions", "executor"]
