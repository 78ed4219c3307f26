"""Files on records: versions, type and size checks, permission-checked downloads."""

from __future__ import annotations

import io

import pytest

from crm_platform.core.tenancy import create_token
from tests.conftest import ApiClient

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%..." + b"x" * 100


@pytest.fixture
def record(api):
    api.post("/objects", json={"name": "account", "label": "Account", "fields": [{"name": "title", "type": "text"}]})
    return api.post("/records/account", json={"title": "Acme"}).json


def upload(api, record, name, content):
    return api.post(f"/records/account/{record['id']}/attachments", data={"file": (io.BytesIO(content), name)},
                    content_type="multipart/form-data")


def test_upload_versions_and_download(api, record):
    first = upload(api, record, "合同.pdf", PDF)
    assert first.status_code == 201, first.json
    second = upload(api, record, "合同.pdf", PDF + b"v2")
    assert second.json["version"] == 2 and second.json["filename"] == "合同.pdf"
    listed = api.get(f"/records/account/{record['id']}/attachments").json["data"]
    assert [(a["filename"], a["version"]) for a in listed] == [("合同.pdf", 2), ("合同.pdf", 1)]
    download = api.get(f"/attachments/{first.json['id']}")
    assert download.status_code == 200 and download.data == PDF and download.mimetype == "application/pdf"
    assert api.get(f"/attachments/{second.json['id']}").data == PDF + b"v2"
    assert api.delete(f"/attachments/{first.json['id']}").status_code == 204
    assert api.get(f"/attachments/{first.json['id']}").status_code == 404


@pytest.mark.parametrize("name, content, problem", [
    ("virus.exe", b"MZ\x90\x00", "not accepted"),
    ("fake.png", b"MZ\x90\x00rest", "not really image/png"),
    ("notes.txt", b"hello\x00world", "not a text file"),
    ("empty.pdf", b"", "empty"),
])
def test_bad_files_are_refused(api, record, name, content, problem):
    response = upload(api, record, name, content)
    assert response.status_code == 422 and problem in response.json["error"]["message"]
    assert api.get(f"/records/account/{record['id']}/attachments").json["data"] == []


def test_size_limit_and_missing_file(api, record, app):
    app.config["CRM_MAX_ATTACHMENT_MB"] = 1
    response = upload(api, record, "big.png", PNG + b"\x00" * (1024 * 1024))
    assert response.status_code == 422 and "larger than 1 MB" in response.json["error"]["message"]
    assert api.post(f"/records/account/{record['id']}/attachments", data={}, content_type="multipart/form-data").status_code == 422


def test_download_needs_read_access_to_the_record(api, record, tenant, client):
    attachment = upload(api, record, "logo.png", PNG).json
    api.put("/roles/own", json={"permissions": {"account": {"read": "own"}}})
    user = api.post("/users", json={"email": "o@x.com", "password": "password-1", "roles": ["own"]}).json
    other = ApiClient(client, create_token(tenant.platform, tenant.slug, user["id"]))
    assert other.get(f"/attachments/{attachment['id']}").status_code == 404
    assert other.get(f"/records/account/{record['id']}/attachments").status_code == 404
