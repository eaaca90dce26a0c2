"""Optional per-tenant settings (`tenant.yaml` beside the tenant's data), validated.

```yaml
modalities: [faq, image, speech, video]   # enabled ones (default: every modality whose input exists)
models:                                   # model per role (default: the embedded defaults)
  text: use-multilingual-v3
  image: {name: clip, model_path: /models/clip-vit-b32}
  asr: faster-whisper
asr_vocabulary: [e-reader, acupuncture]   # words that bias speech recognition
gates:                                    # global overrides, then per-modality ones
  min_f1: 0.92
  speech: {max_wer: 0.2}
excuse:                                   # cells allowed to go unmeasured, with the reason
  speech: {ja: "no Japanese phone line yet"}
  image: "customers send no photos yet"   # every cell of the modality
retrieval: {max_query_cpu_ms: 5}          # strategy selection (mm_platform.retrieval.selection)
keep_versions: 5
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mm_platform.evaluation.gates import GateConfig
from mm_platform.inputs.validation import InputFileError

TENANT_FILE = "tenant.yaml"
KNOWN_KEYS = {"gates", "keep_versions", "modalities", "models", "asr_vocabulary", "excuse", "retrieval"}
ROLES = ("text", "text2", "image", "asr")
RETRIEVAL_KEYS = {"folds": int, "max_query_cpu_ms": (int, float), "switch_margin": (int, float), "min_report_n": int}


@dataclass(frozen=True)
class TenantConfig:
    gates: dict = field(default_factory=dict)
    keep_versions: int | None = None
    modalities: tuple[str, ...] | None = None
    models: dict = field(default_factory=dict)
    asr_vocabulary: tuple[str, ...] = ()
    #: {modality: {cell: reason}} ("*": every cell of the modality)
    excuses: dict = field(default_factory=dict)
    retrieval: dict = field(default_factory=dict)

    def excuses_for(self, modality: str) -> dict[str, str]:
        return dict(self.excuses.get(modality, {}))

    def gate_config(self, base: GateConfig, modality: str | None = None) -> GateConfig:
        scalars = {k: v for k, v in self.gates.items() if not isinstance(v, dict)}
        config = base.with_overrides(scalars)
        if modality and isinstance(self.gates.get(modality), dict):
            config = config.with_overrides(self.gates[modality])
        return config

    def enabled(self, modality: str) -> bool:
        return self.modalities is None or modality in self.modalities


def load_tenant_config(tenant_dir: Path) -> TenantConfig:
    path = Path(tenant_dir) / TENANT_FILE
    if not path.exists():
        return TenantConfig()
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InputFileError(path, "expected a mapping at the top level")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise InputFileError(path, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}")
    gates = data.get("gates") or {}
    if not isinstance(gates, dict):
        raise InputFileError(path, "'gates' must be a mapping")
    try:
        GateConfig().with_overrides({k: v for k, v in gates.items() if not isinstance(v, dict)})
        for name, sub in gates.items():
            if isinstance(sub, dict):
                GateConfig().with_overrides(sub)
    except (ValueError, TypeError) as exc:
        raise InputFileError(path, f"gates: {exc}") from exc
    keep = data.get("keep_versions")
    if keep is not None and (not isinstance(keep, int) or keep < 2):
        raise InputFileError(path, "'keep_versions' must be an integer >= 2 (the live version and one to roll back to)")
    modalities = data.get("modalities")
    if modalities is not None and (not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities)):
        raise InputFileError(path, "'modalities' must be a list of modality names")
    if modalities is not None:
        from mm_platform.modalities.registry import registered_modalities

        known = list(registered_modalities())
        unknown_names = [m for m in modalities if m not in known]
        if unknown_names:  # a typo would silently switch a modality off
            raise InputFileError(path, f"modalities: unknown {', '.join(map(repr, unknown_names))} "
                                       f"(known: {', '.join(known)})")
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise InputFileError(path, "'models' must be a mapping of role to model")
    normalized = {}
    for role, choice in models.items():
        if role not in ROLES:
            raise InputFileError(path, f"models: unknown role {role!r} (known: {', '.join(ROLES)})")
        if isinstance(choice, str):
            choice = {"name": choice}
        if not isinstance(choice, dict) or not isinstance(choice.get("name"), str):
            raise InputFileError(path, f"models.{role}: expected a backend name or {{name, model_path}}")
        normalized[role] = choice
    vocabulary = data.get("asr_vocabulary") or []
    if not isinstance(vocabulary, list) or not all(isinstance(w, str) for w in vocabulary):
        raise InputFileError(path, "'asr_vocabulary' must be a list of words or phrases")
    excuses = {}
    raw_excuses = data.get("excuse") or {}
    if not isinstance(raw_excuses, dict):
        raise InputFileError(path, "'excuse' must map a modality to a reason or to {cell: reason}")
    for modality, value in raw_excuses.items():
        cells = {"*": value} if isinstance(value, str) else value
        if not isinstance(cells, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                  for k, v in cells.items()):
            raise InputFileError(path, f"excuse.{modality}: expected a reason or a mapping of cell to a non-empty reason")
        excuses[modality] = {k: v.strip() for k, v in cells.items()}
    retrieval = data.get("retrieval") or {}
    if not isinstance(retrieval, dict):
        raise InputFileError(path, "'retrieval' must be a mapping")
    for key, value in retrieval.items():
        if key not in RETRIEVAL_KEYS:
            raise InputFileError(path, f"retrieval: unknown key {key!r} (known: {', '.join(RETRIEVAL_KEYS)})")
        if isinstance(value, bool) or not isinstance(value, RETRIEVAL_KEYS[key]) or value < (2 if key == "folds" else 0):
            raise InputFileError(path, f"retrieval.{key}: expected a {'whole number >= 2' if key == 'folds' else 'non-negative number'}, got {value!r}")
    return TenantConfig(gates=gates, keep_versions=keep,
                        modalities=tuple(modalities) if modalities is not None else None, models=normalized,
                        asr_vocabulary=tuple(vocabulary), excuses=excuses, retrieval=retrieval)
