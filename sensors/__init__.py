"""Sensors."""

from .tenants import tenant_discovery_sensor

__all__ = ["tenant_discovery_sensor"]
