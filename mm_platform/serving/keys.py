"""API keys of the retrieval service: each key is bound to exactly one tenant and is stored only
as its SHA-256 hash.

Sources, all merged (a key may appear once):

- a JSON or YAML file ``{"keys": [{"tenant": "ecommerce", "sha256": "<64 hex>"}, ...]}`` named by
  ``--keys-file`` or the environment variable ``MM_API_KEYS_FILE``;
- ``MM_API_KEYS="tenant:key,tenant:key"`` (plaintext in the environment, hashed at load and
  never kept);
- without either, ``<storage>/_service/api_keys.json`` when it exists (what
  :func:`generate_demo_keys` writes).

A presented key is hashed and compared with every stored hash with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from mm_platform.atomic import atomic_write_json
from mm_platform.inputs.tenancy import TENANT_ID_PATTERN, Layout, TenantError, validate_tenant_id

KEYS_FILE_ENV = "MM_API_KEYS_FILE"
KEYS_ENV = "MM_API_KEYS"
SERVICE_DIR = "_service"
DEMO_KEYS_FILE = "api_keys.json"
_HEX = set("0123456789abcdef")


class KeyConfigError(ValueError):
    """A keys file or MM_API_KEYS value that cannot be used."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyEntry:
    tenant: str
    sha256: str


@dataclass
class KeyRing:
    """Hashed keys, each bound to one tenant."""

    entries: list[KeyEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for entry in self.entries:
            validate_tenant_id(entry.tenant)
            if len(entry.sha256) != 64 or not set(entry.sha256) <= _HEX:
                raise KeyConfigError(f"key of tenant {entry.tenant!r}: sha256 must be 64 lower-case hex digits")
            if entry.sha256 in seen:
                raise KeyConfigError(f"the same key is configured twice (tenant {entry.tenant!r})")
            seen.add(entry.sha256)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def tenants(self) -> list[str]:
        return sorted({e.tenant for e in self.entries})

    def tenant_for(self, key: str) -> str | None:
        """The tenant a presented key belongs to, or None. Every stored hash is compared
        (constant time per comparison, no early exit)."""
        if not key:
            return None
        presented = hash_key(key).encode()
        found = None
        for entry in self.entries:
            if hmac.compare_digest(presented, entry.sha256.encode()):
                found = entry.tenant
        return found

    def merged(self, other: "KeyRing") -> "KeyRing":
        return KeyRing(self.entries + other.entries)

    @classmethod
    def from_plain(cls, pairs: Mapping[str, str] | list[tuple[str, str]]) -> "KeyRing":
        """Keys given in plaintext ({tenant: key} or [(tenant, key)]): hashed here, never kept."""
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        return cls([KeyEntry(validate_tenant_id(t), hash_key(k)) for t, k in items])

    def to_dict(self) -> dict:
        return {"keys": [{"tenant": e.tenant, "sha256": e.sha256} for e in self.entries]}


def parse_keys_document(doc: object, source: str) -> KeyRing:
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise KeyConfigError(f"{source}: expected an object with a list under 'keys'")
    entries = []
    for i, item in enumerate(doc["keys"], 1):
        if not isinstance(item, dict) or not isinstance(item.get("tenant"), str) or not isinstance(item.get("sha256"), str):
            raise KeyConfigError(f"{source}: key #{i} needs string fields 'tenant' and 'sha256'")
        try:
            entries.append(KeyEntry(validate_tenant_id(item["tenant"]), item["sha256"].strip().lower()))
        except TenantError as err:
            raise KeyConfigError(f"{source}: key #{i}: {err}") from None
    try:
        return KeyRing(entries)
    except (TenantError, KeyConfigError) as err:
        raise KeyConfigError(f"{source}: {err}") from None


def load_keys_file(path: str | os.PathLike) -> KeyRing:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise KeyConfigError(f"cannot read keys file {path}: {err.strerror or err}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise KeyConfigError(f"{path}: not valid YAML: {err}") from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise KeyConfigError(f"{path}: not valid JSON: {err}") from None
    return parse_keys_document(doc, str(path))


def parse_env_keys(value: str) -> KeyRing:
    """`tenant:key,tenant:key` -> hashed key ring."""
    pairs = []
    for i, part in enumerate(p.strip() for p in value.split(",")):
        if not part:
            continue
        tenant, sep, key = part.partition(":")
        if not sep or not key.strip():
            raise KeyConfigError(f"{KEYS_ENV} entry #{i + 1} must look like tenant:key")
        if not TENANT_ID_PATTERN.fullmatch(tenant.strip()):
            raise KeyConfigError(f"{KEYS_ENV} entry #{i + 1}: invalid tenant id {tenant.strip()!r}")
        pairs.append((tenant.strip(), key.strip()))
    return KeyRing.from_plain(pairs)


def demo_keys_path(layout: Layout) -> Path:
    return Path(layout.storage_dir) / SERVICE_DIR / DEMO_KEYS_FILE


def load_keys(keys_file: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
              layout: Layout | None = None) -> KeyRing:
    """Keys from `keys_file` (or MM_API_KEYS_FILE) plus MM_API_KEYS; without either, the demo
    keys file of `layout` when it exists. May be empty (every request is then refused)."""
    env = os.environ if env is None else env
    ring = KeyRing()
    path = keys_file or env.get(KEYS_FILE_ENV)
    if path:
        ring = ring.merged(load_keys_file(path))
    if env.get(KEYS_ENV):
        ring = ring.merged(parse_env_keys(env[KEYS_ENV]))
    if not path and not env.get(KEYS_ENV) and layout is not None and demo_keys_path(layout).is_file():
        ring = load_keys_file(demo_keys_path(layout))
    return ring


def served_tenants(layout: Layout) -> list[str]:
    """Tenants with input folders plus tenants with indexes in storage."""
    valid, _ = layout.discover_tenants()
    stored = []
    if Path(layout.storage_dir).is_dir():
        stored = [p.name for p in Path(layout.storage_dir).iterdir()
                  if p.is_dir() and TENANT_ID_PATTERN.fullmatch(p.name) and (p / "indexes").is_dir()]
    return sorted(set(valid) | set(stored))


def generate_demo_keys(layout: Layout) -> dict[str, str]:
    """A fresh random key per discovered tenant; the hashes are written (atomically) to
    `<storage>/_service/api_keys.json` and the plaintext keys are returned for printing once."""
    keys = {tenant: "mmk_" + secrets.token_urlsafe(32) for tenant in served_tenants(layout)}
    ring = KeyRing.from_plain(keys)
    atomic_write_json(demo_keys_path(layout), ring.to_dict())
    return keys
