"""One helper that picks the resources for the environment the code location runs in."""


from pathlib import Path

import dagster as dg

from mm_platform import settings
from resources.platform import ModelsResource, PlatformResource, QualityResource


def build_resources() -> dict:
    """Resources for the embedded default, located by `MM_DATA_DIR` / `MM_STORAGE_DIR`.

    Small pickled references between assets live under the artifact store, so every pod
    that mounts `MM_STORAGE_DIR` sees them.
    """
    storage = settings.storage_dir()
    return {
        "platform": PlatformResource(data_dir=str(settings.data_dir()), storage_dir=str(storage)),
        "models": ModelsResource(text_encoder=settings.text_encoder_name(), text_model_path=settings.text_model_path()),
        "quality": QualityResource(),
        "io_manager": dg.FilesystemIOManager(base_dir=str(Path(storage) / ".dagster_io")),
    }
