"""Sensors."""

from sensors.failures import tenant_run_failure_sensor
from sensors.models import promotion_sensor, registry_inbox_sensor
from sensors.tenants import tenant_data_sensor

__all__ = ["promotion_sensor", "registry_inbox_sensor", "tenant_data_sensor", "tenant_run_failure_sensor"]
