"""The models a tenant's pipeline uses, by role, loaded lazily from their plugins.

Roles: `text` (TextEncoder), `image` (ImageEncoder, also used for video keyframes) and `asr`
(SpeechRecognizer). A role is named by a registered backend plus optional load arguments
(for example a local `model_path`); loading is cached per process, so every step that needs
the same model shares one copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mm_platform import plugins
from mm_platform.encoders.text import load_text_encoder

ROLE_GROUPS = {"image": plugins.IMAGE_ENCODER_GROUP, "asr": plugins.ASR_GROUP}
#: `text2` is the second encoder of retrieval ensembles (FAQ strategies); "none" disables a role
DEFAULT_MODELS = {"text": {"name": "use-multilingual-v3"}, "text2": {"name": "multilingual-e5-small"},
                  "image": {"name": "visual-descriptor"}, "asr": {"name": "faster-whisper"}}
DISABLED = "none"


@lru_cache(maxsize=16)
def _load(role: str, name: str, frozen_args: tuple):
    backends = plugins.load_group(ROLE_GROUPS[role])
    if name not in backends:
        raise ValueError(f"unknown {role} model backend {name!r}; registered: {', '.join(sorted(backends)) or 'none'}")
    return backends[name](**dict(frozen_args))


@lru_cache(maxsize=64)
def _checked_folder(path: str, backend: str, mtime_ns: int) -> str:
    from mm_platform.registry.safety import check_model_path

    return str(check_model_path(Path(path), backend))


def safe_model_path(path: str, backend: str) -> str:
    """A user-supplied `model_path` (tenant.yaml, `--model-path`) checked like a registered version
    (once per folder state and process). The platform's own defaults (pip-packaged models, registry
    versions) were checked where they came from and are not re-scanned."""
    folder = Path(path).expanduser()
    try:
        mtime = folder.stat().st_mtime_ns
    except OSError:
        mtime = -1
    return _checked_folder(str(folder), backend, mtime)


def load_model(role: str, spec: dict):
    """Load the model a spec names (`{"name": backend, "model_path": ..., ...}`)."""
    args = {k: v for k, v in spec.items() if k not in ("name", "version", "dim", "languages") and v not in (None, "")}
    if role in ("text", "text2"):
        # a loaded model's name is "<backend>/<folder>"; the backend is what is registered
        return load_text_encoder(spec["name"].split("/", 1)[0], **args)
    name = spec["name"].split("/", 1)[0]
    if "model_path" in args:
        args["model_path"] = str(Path(args["model_path"]).resolve())
    return _load(role, name, tuple(sorted(args.items())))


def load_exact(role: str, spec: dict):
    """Load the model an index manifest names and insist it is the same version."""
    model = load_model(role, spec)
    if "version" in spec and model.version != spec["version"]:
        raise RuntimeError(f"{role} model {spec['name']} on disk is version {model.version}, "
                           f"the index was built with {spec['version']}")
    return model


@dataclass
class ModelSet:
    """Model choices by role; each is loaded on first use."""

    choices: dict[str, dict] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_MODELS.items()})
    exact: bool = False

    def has(self, role: str) -> bool:
        return role in self.choices

    def get(self, role: str):
        if role not in self.choices:
            raise KeyError(f"no model configured for role {role!r}")
        return (load_exact if self.exact else load_model)(role, self.choices[role])

    @property
    def text(self):
        return self.get("text")

    @property
    def image(self):
        return self.get("image")

    @property
    def asr(self):
        return self.get("asr")

    def specs(self, roles) -> dict:
        """What an index manifest records for the roles a modality uses."""
        return {role: self.get(role).spec() for role in roles}

    @classmethod
    def from_specs(cls, specs: dict) -> "ModelSet":
        """The exact models an index was built with (query path: never a mixed pair)."""
        return cls(choices={k: dict(v) for k, v in specs.items()}, exact=True)
