"""Dagster resources: thin configurable handles on the domain core."""

from .platform import QualityResource, PlatformResource, TextEncoderResource
from .environment import build_resources

__all__ = ["QualityResource", "PlatformResource", "TextEncoderResource", "build_resources"]
