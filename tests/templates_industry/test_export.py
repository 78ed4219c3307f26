"""Export: a tenant's configuration written as a pack reproduces the same metadata in an empty tenant."""

from __future__ import annotations

import pytest
import yaml

from crm_platform.core.errors import Conflict
from templates_industry import export_tenant, validate

from .conftest import install, snapshot


def _configuration(handle):
    shot = snapshot(handle)
    rules = sorted((name, repr(sorted(definition.items()))) for name, definition, deleted in shot["rules"] if not deleted)
    processes = sorted((name, repr(sorted(definition.items()))) for name, definition in shot["approval_processes"])
    return {"definitions": shot["definitions"], "roles": shot["roles"], "rules": rules, "processes": processes,
            "tables": shot["tables"], "columns": shot["columns"], "indexes": shot["indexes"]}


@pytest.mark.parametrize("name", ["education", "retail"])
def test_export_round_trip_reproduces_the_same_metadata(tenant_factory, tmp_path, name):
    source = tenant_factory()
    install(source, name, sample=True)
    from metadata import Designer

    with source.session() as session:  # a customization made after the install travels too
        Designer(session).add_field("account", {"name": "wechat_official", "type": "text", "label": {"en": "WeChat", "zh": "公众号"}})
    folder = tmp_path / "exported"
    with source.session(write=False) as session:
        written = export_tenant(session, folder, name="my_config", version="2.1.0")
    assert written["pack"] == "my_config" and "pack.yaml" in written["files"]
    pack, problems = validate(str(folder))
    assert [str(p) for p in problems] == []
    assert pack.dependencies == [] and pack.samples == []
    manifest = yaml.safe_load((folder / "pack.yaml").read_text())
    assert manifest["version"] == "2.1.0" and manifest["data"][0].startswith("objects/")

    target = tenant_factory()
    plan = install(target, str(folder))
    assert plan.conflicts == []
    assert _configuration(target) == _configuration(source)


def test_export_refuses_a_folder_that_holds_something_else(tenant, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with tenant.session(write=False) as session, pytest.raises(Conflict, match="not empty"):
        export_tenant(session, tmp_path)


def test_export_of_an_empty_tenant_is_a_valid_empty_pack(tenant, tmp_path):
    with tenant.session(write=False) as session:
        written = export_tenant(session, tmp_path / "empty")
    assert written["objects"] == 0 and written["pack"].endswith("_config")
    _, problems = validate(str(tmp_path / "empty"))
    assert problems == []
