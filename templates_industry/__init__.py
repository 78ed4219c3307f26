"""Industry template packs: the pack format, its validator, and the installer (plan / apply /
upgrade / export). Packs shipped with the platform live in ``templates_industry/packs``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cache import PackCache, platform_cache
from .export import export_tenant
from .installer import Installer, install, plan_install
from .pack import Pack, PackInvalid, Problem, read_pack
from .planner import Change, Plan, Planner
from .registry import PackRegistry, builtin_packs_path, pack_registry
from .status import installed_packs_of
from .tables import tenant_metadata
from .validation import check_pack, validate

if TYPE_CHECKING:
    from crm_platform.core.platform import Platform

__all__ = [
    "Change",
    "Installer",
    "Pack",
    "PackCache",
    "PackInvalid",
    "PackRegistry",
    "Plan",
    "Planner",
    "Problem",
    "builtin_packs_path",
    "check_pack",
    "export_tenant",
    "init_platform",
    "install",
    "installed_packs_of",
    "pack_registry",
    "plan_install",
    "platform_cache",
    "read_pack",
    "validate",
]


def init_platform(platform: Platform) -> None:
    """Register the installer's tables (installed packs and what each installed) in every tenant,
    and give the platform its pack cache (packs read and checked once per app while unchanged)."""
    platform.register_tenant_tables(tenant_metadata)
    platform_cache(platform)
