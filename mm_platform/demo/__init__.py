"""Synthetic demo data for the demo tenants: FAQ tables and generators (no Dagster needed)."""
