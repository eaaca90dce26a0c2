"""Model registry: immutable model versions per family, `champion`/`challenger` aliases (global
and per tenant) with an append-only audit log, a drop-folder inbox, and the bundled seed.

Layout under `<storage>/_registry/`:

    <family>/versions/<version_id>/      model files (copied) or backend.json (reference) + manifest.json
    <family>/aliases.json                {"champion": version_id, "challenger": version_id}
    <family>/tenants/<tenant>/aliases.json   per-tenant overrides
    <family>/audit.jsonl                 every alias move: time, run_id, alias, tenant, from, to, metrics, reason, forced
    inbox/<family>/<folder>/             user drops; registered when it holds READY or manifest.json
    inbox/.done/<family>/<folder>        processed
    inbox/.rejected/<family>/<folder>    refused, with REJECTED.txt

Families and their backends: text_encoder (use-multilingual-v3, sentence-transformers,
sentence-transformers-onnx-int8), asr (faster-whisper, transformers-whisper), vision_encoder
(clip, visual-descriptor), llm (transformers-causal-lm).

Nothing that could execute code at load is accepted: pickled weights (torch.save zips, pickle
streams; detected by their magic bytes, whatever the extension), code files, and configs with
`auto_map` (custom modelling code). CTranslate2's `model.bin` (faster-whisper) is not a pickle
and is recognised by its header. The registry never loads a model with trust_remote_code.
No Dagster here.
"""

from mm_platform.registry.aliases import AliasesMixin
from mm_platform.registry.common import (
    ALIASES,
    FAMILIES,
    FAMILY_BACKENDS,
    ModelVersion,
    RegistryError,
    UnsafeModelError,
)
from mm_platform.registry.facts import count_parameters, package_reference, resolve_reference
from mm_platform.registry.inbox import InboxMixin
from mm_platform.registry.safety import check_model_folder, guess_backend, model_files
from mm_platform.registry.versions import VersionStore


class ModelRegistry(AliasesMixin, InboxMixin, VersionStore):
    """The registry under `<root>/_registry` (root: the storage folder, `MM_STORAGE_DIR`): immutable
    versions (`versions`), aliases and their audit log (`aliases`), the inbox (`inbox`)."""


def seed_bundled(*args, **kwargs):
    from mm_platform.registry.seed import seed_bundled as seed

    return seed(*args, **kwargs)


__all__ = ["ALIASES", "FAMILIES", "FAMILY_BACKENDS", "ModelRegistry", "ModelVersion", "RegistryError",
           "UnsafeModelError", "check_model_folder", "count_parameters", "guess_backend", "model_files",
           "package_reference", "resolve_reference", "seed_bundled"]
