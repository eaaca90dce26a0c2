"""Sensors."""

from .failures import tenant_run_failure_sensor
from .tenants import tenant_data_sensor

__all__ = ["tenant_data_sensor", "tenant_run_failure_sensor"]
