"""Dagster-free domain core of the multimodal knowledge platform.

Everything here (input validation, encoders, index building and search, metrics, gates,
registry of plugins) is importable and testable without a Dagster instance; the Dagster
modules (`mm_assets`, `resources`, `jobs`, `sensors`) are thin wiring around it.
"""

__version__ = "0.1.0"
