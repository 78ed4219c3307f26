"""The pack cache belongs to the app's platform: packs read and checked once per app, never shared
through module state."""

from __future__ import annotations

from templates_industry import PackCache, PackRegistry, pack_registry, platform_cache


def test_installing_fills_the_platforms_cache_and_a_bare_registry_has_its_own(platform, tenant):
    from templates_industry import install

    cache = platform_cache(platform)
    assert isinstance(cache, PackCache)
    with tenant.session() as session:
        install(session, "crm_core", dry_run=True)
    read = len(cache.packs)
    assert read >= 1 and len(cache.checks) >= 1
    assert pack_registry(platform).find("crm_core") is pack_registry(platform).find("crm_core")
    bare = PackRegistry()
    assert bare.cache is not cache and bare.find("crm_core") is not pack_registry(platform).find("crm_core")
    assert len(cache.packs) == read


def test_the_cli_registry_shares_the_apps_cache(app):
    import click

    from crm_platform.cli import _pack_registry, main
    from crm_platform.core.platform import get_platform

    ctx = click.Context(main, obj={"app": app})
    assert _pack_registry(ctx).cache is platform_cache(get_platform(app))


def test_a_pack_edited_on_disk_is_read_again_and_its_change_planned(platform, tenant, tmp_path):
    import shutil

    from .conftest import FIXTURES, install

    folder = tmp_path / "loyalty"
    shutil.copytree(FIXTURES / "upgrade_v1" / "loyalty", folder)
    registry = pack_registry(platform)
    install(tenant, str(folder), registry=registry)
    customer = folder / "objects" / "customer.yaml"
    customer.write_text(customer.read_text("utf-8").replace("zh: 城市}", "zh: 所在城市}"), "utf-8")
    manifest = folder / "pack.yaml"
    manifest.write_text(manifest.read_text("utf-8").replace("version: 1.0.0", "version: 1.0.1"), "utf-8")
    plan = install(tenant, str(folder), registry=pack_registry(platform))
    changes = {(c.kind, c.key): (c.action, c.detail) for c in plan.changes}
    assert changes[("field", "customer.city")][0] == "update" and "所在城市" in changes[("field", "customer.city")][1]
    assert [c for c in plan.changes if c.action != "update"] == [] and plan.conflicts == []
    again = install(tenant, str(folder), registry=pack_registry(platform))
    assert again.empty and again.changes == []
