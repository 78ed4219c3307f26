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
