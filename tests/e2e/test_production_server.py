"""The live server as production runs it: static files and request logs."""

import gzip
import json
import re
import urllib.request

STATIC_LINK = re.compile(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"')


def fetch(url: str, **headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()


def test_admin_assets_have_hashed_names_and_are_served_compressed_for_a_year(live_server):
    _, _, page = fetch(f"{live_server.url}/admin/login/")
    match = STATIC_LINK.search(page.decode())
    assert match, "the admin links its stylesheet under a content-hashed name"

    status, headers, body = fetch(f"{live_server.url}{match[1]}", **{"Accept-Encoding": "gzip"})

    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert b"body" in gzip.decompress(body)
    assert "immutable" in headers["cache-control"]
    assert "max-age=315360000" in headers["cache-control"]


def test_docs_assets_come_from_the_app_itself(live_server):
    _, _, page = fetch(f"{live_server.url}/api/v1/docs/")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.decode())

    assert assets
    assert all(asset.startswith("/static/") or asset.startswith("/api/") for asset in assets)
    for asset in (a for a in assets if a.startswith("/static/")):
        assert fetch(f"{live_server.url}{asset}")[0] == 200


def test_each_request_is_one_json_log_line_with_its_request_id(live_server):
    status, headers, _ = fetch(
        f"{live_server.url}/api/v1/categories/", **{"X-Request-ID": "e2e-77"}
    )

    assert status == 200
    assert headers["x-request-id"] == "e2e-77"
    lines = [json.loads(line) for line in live_server.log_lines() if line[:1] == "{"]
    mine = [line for line in lines if line.get("request_id") == "e2e-77"]
    assert len(mine) == 1
    assert mine[0] | {"duration_ms": 0, "time": ""} == {
        "time": "",
        "level": "INFO",
        "logger": "backend.requests",
        "message": "GET /api/v1/categories/ 200",
        "method": "GET",
        "path": "/api/v1/categories/",
        "status": 200,
        "duration_ms": 0,
        "user_id": None,
        "request_id": "e2e-77",
    }
