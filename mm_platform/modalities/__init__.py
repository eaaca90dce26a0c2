"""Built-in modalities; each registers through the `mm_platform.modalities` entry-point group."""
