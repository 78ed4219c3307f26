"""The pack format: every shipped pack is valid and bilingual; bad packs report every problem with its
file and location."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from templates_industry import PackRegistry, validate
from templates_industry.pack import parse_yaml

from .conftest import FIXTURES, PACKS


@pytest.mark.parametrize("name", PACKS)
def test_every_shipped_pack_is_valid(name):
    pack, problems = validate(name)
    assert [str(p) for p in problems] == []
    assert pack.version is not None and str(pack.version).count(".") == 2
    assert pack.objects or pack.extensions


def _labels(value, path):
    """Every label-like value under a document, with where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("label", "label_plural", "description", "help") and not isinstance(item, str):
                yield f"{path}.{key}", item
            elif key in ("label", "label_plural") and isinstance(item, str):
                yield f"{path}.{key}", item
            else:
                yield from _labels(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _labels(item, f"{path}[{index}]")


@pytest.mark.parametrize("name", PACKS)
def test_every_label_is_in_english_and_chinese(name):
    pack = PackRegistry().find(name)
    documents = {"pack.yaml": pack.manifest}
    documents.update({item.file: item.document for item in [*pack.objects.values(), *pack.extensions.values()]})
    documents.update({item.file + f" {item.where}": item.document for item in pack.roles.values()})
    missing = [f"{file}: {path}" for file, document in documents.items() for path, label in _labels(document, "")
               if not (isinstance(label, dict) and label.get("en") and label.get("zh"))]
    assert missing == []
    # Approval processes have no label: their description carries both languages.
    for item in pack.approvals.values():
        description = item.document.get("description", "")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in description) and any(ch.isascii() and ch.isalpha() for ch in description)


@pytest.mark.parametrize("name", PACKS)
def test_sample_data_is_realistic_and_chinese(name):
    pack = PackRegistry().find(name)
    rows = [row for sample in pack.samples for row in sample.rows]
    assert len(rows) >= 20
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in " ".join(r.values.values())) for r in rows) > len(rows) / 2


def test_every_file_kind_has_a_schema_shipped_in_the_package():
    folder = resources.files("templates_industry").joinpath("schemas")
    names = {entry.name for entry in folder.iterdir()}
    for kind in ("pack", "object", "object_extension", "roles", "access", "field_access", "rules", "approvals",
                 "users", "sample_records"):
        assert f"{kind}.schema.json" in names
        document = json.loads(folder.joinpath(f"{kind}.schema.json").read_text("utf-8"))
        assert document["$schema"].endswith("2020-12/schema") and document.get("title")


def _problems(path) -> list[str]:
    _, problems = validate(str(path))
    return [str(p) for p in problems]


def test_schema_errors_in_several_files_are_all_reported_with_file_and_location():
    problems = _problems(FIXTURES / "bad" / "many_errors")
    expected = [
        "pack.yaml: version: '1.0' does not match",
        "pack.yaml: data[4]: 'objects/missing.yaml' does not exist",
        "objects/lead.yaml: fields[2].type: 'str' is not one of ['text', 'textarea'",
        "objects/visit.yaml: fields[0].target: unknown target object 'leads'",
        "objects/visit.yaml: layouts.list.columns: unknown field 'outcome'",
        "security/access.csv: line 2: role: 'admin' is not allowed here",
        "security/access.csv: line 3: read: 'everything' is not one of",
        "rules/rules.yaml: rules[0].condition: condition.rules[0]: field 'budget', operator 'greater': unknown field 'budget'",
        "rules/rules.yaml: rules[0].actions[0].value: not a valid value for score",
        "sample/lead.csv: line 2: amount: Not a valid number.",
        "sample/lead.csv: line 3: score: Must be greater than or equal to 0",
        "sample/lead.csv: line 3: company: required",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected)


def test_invalid_yaml_names_the_line_and_column():
    assert _problems(FIXTURES / "bad" / "invalid_yaml") == [
        "objects/thing.yaml: line 3, column 7: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping)"]


def test_unknown_dependency():
    problems = _problems(FIXTURES / "bad" / "unknown_dependency")
    assert len(problems) == 1
    assert problems[0].startswith("pack.yaml: dependencies[0]: crm_nothing>=1.0: no pack named 'crm_nothing'")


def test_dependency_version_not_available():
    assert _problems(FIXTURES / "bad" / "version_conflict") == [
        "pack.yaml: dependencies[0]: crm_core>=2.0: no version of pack 'crm_core' satisfies >=2.0; available: 1.2.0"]


def test_dependencies_with_conflicting_ranges():
    problems = _problems(FIXTURES / "bad" / "conflicting_ranges")
    assert len(problems) == 1
    assert "version conflict on crm_core 1.2.0" in problems[0]
    assert "conflicting_ranges needs crm_core<2,>=1.0" in problems[0] and "needs_old_core needs crm_core<1.0" in problems[0]


def test_yaml_is_read_as_json_would_be():
    document, problems = parse_yaml("on: create\nyes: no\nwhen: 2025-01-31\ncode: 0755\nn: 12\nf: 1.5\n", "x.yaml")
    assert problems == []
    assert document == {"on": "create", "yes": "no", "when": "2025-01-31", "code": "0755", "n": 12, "f": 1.5}
    _, problems = parse_yaml("a: 1\na: 2\n", "x.yaml")
    assert [str(p) for p in problems] == ["x.yaml: line 2, column 1: invalid YAML: duplicate key 'a'"]


def test_a_pack_cannot_redefine_or_extend_what_it_does_not_depend_on(tmp_path):
    (tmp_path / "objects").mkdir()
    (tmp_path / "pack.yaml").write_text(
        "name: sneaky\nversion: 1.0.0\nlabel: {en: Sneaky, zh: 偷偷}\ndependencies: ['crm_core>=1.0']\n"
        "data: [objects/account.yaml, objects/ext.yaml]\n")
    (tmp_path / "objects" / "account.yaml").write_text("name: account\nlabel: Account\nfields: []\n")
    (tmp_path / "objects" / "ext.yaml").write_text(
        "extends: contact\nfields:\n  - {name: email, type: email}\n  - {name: fav, type: lookup, target: nothing}\n")
    problems = _problems(tmp_path)
    assert any(p.startswith("objects/account.yaml: name: object 'account' belongs to dependency crm_core") for p in problems)
    assert "objects/ext.yaml: fields[0].name: contact already has a field 'email'" in problems
    assert "objects/ext.yaml: fields[1].target: unknown target object 'nothing'" in problems
