"""Tenant ids and tenant-scoped paths."""

import os

import pytest

from mm_platform.inputs.tenancy import TenantError, confine, validate_tenant_id


@pytest.mark.parametrize("tenant", ["ecommerce", "medical_2", "ab"])
def test_valid_tenant_ids(tenant):
    assert validate_tenant_id(tenant) == tenant


@pytest.mark.parametrize("tenant", ["a", "Ecommerce", "1shop", "shop-x", "../etc", "a" * 64, "", None, "shop/x"])
def test_invalid_tenant_ids(tenant):
    with pytest.raises(TenantError):
        validate_tenant_id(tenant)


def test_artifact_paths_are_tenant_scoped(layout):
    assert layout.artifact("acme", "indexes", "faq") == layout.storage_dir / "acme" / "indexes" / "faq"
    with pytest.raises(TenantError):
        layout.artifact("acme", "..", "other")
    with pytest.raises(TenantError):
        layout.tenant_storage("../other")


def test_confine_follows_links(tmp_path):
    root = tmp_path / "tenant"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("x")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    (root / "ok.txt").write_text("y")
    assert confine(root / "ok.txt", root) == (root / "ok.txt").resolve()
    with pytest.raises(TenantError):
        confine(root / "link.txt", root)


def test_discover_tenants_skips_invalid_folder_names(layout):
    for name in ("ecommerce", "Bad-Name", "medical"):
        (layout.data_dir / name).mkdir(parents=True)
    (layout.data_dir / "notes.txt").write_text("")
    assert layout.discover_tenants() == (["ecommerce", "medical"], ["Bad-Name"])
