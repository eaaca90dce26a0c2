"""Dagster assets and asset checks of the knowledge platform (thin wiring around `mm_platform`)."""
