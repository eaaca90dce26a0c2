"""Tenants are dynamic partitions, discovered from the folders under MM_DATA_DIR."""

import dagster as dg

tenant_partitions = dg.DynamicPartitionsDefinition(name="tenants")
