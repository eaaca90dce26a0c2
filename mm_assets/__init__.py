"""Dagster assets and asset checks of the knowledge platform (thin wiring around `mm_platform`)."""

import warnings

import dagster as dg

# Partitioned asset checks are a preview feature of Dagster 1.13; we rely on them knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
