"""backend/app.py in process (Starlette TestClient): routes, static files, headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from backend.app import CONTENT_SECURITY_POLICY, cache_policy, create_app
from backend.settings import Settings, build_settings


def settings(static_dir: Path, **server: Any) -> Settings:
    return build_settings({
        "server": {"static_dir": str(static_dir), **server},
        "xmpp": {"servers": [
            {"domain": "example.org", "host": "xmpp.example.org"},
            {"domain": "localhost", "host": "127.0.0.1", "tls": "none"},
        ]},
    })


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>Roost</title>")
    (d / "sw.js").write_text("// sw")
    (d / "manifest.json").write_text("{}")
    (d / "config.json").write_text('{"stale": true}')
    (d / "roost-app.3f9a2b7c1d.js").write_text("// hashed")
    (d / "render.js").write_text("// plain")
    (d / "assets" / "style.0123abcd.css").write_text("body{}")
    return d


@pytest.fixture
def client(dist: Path) -> TestClient:
    return TestClient(create_app(settings(dist)))


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_config_json_comes_from_settings_not_dist(client: TestClient) -> None:
    response = client.get("/config.json")
    assert response.status_code == 200
    assert response.json() == {
        "websocket_url": "/xmpp-websocket", "default_domain": "example.org",
        "domains": ["example.org", "localhost"],
        "push": None,  # issue 6: no [push] section (tests/backend/push/ covers it on)
    }
    assert response.headers["cache-control"] == "no-cache"


def test_index_served_with_security_headers(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "<title>Roost</title>" in response.text
    h = response.headers
    assert h["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in CONTENT_SECURITY_POLICY
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert "camera=()" in h["permissions-policy"]
    assert h["cache-control"] == "no-cache"
    assert "strict-transport-security" not in h  # plain http here


@pytest.mark.parametrize(
    ("path", "cache"),
    [
        ("/index.html", "no-cache"),
        ("/sw.js", "no-cache"),
        ("/manifest.json", "no-cache"),
        ("/roost-app.3f9a2b7c1d.js", "public, max-age=31536000, immutable"),
        ("/assets/style.0123abcd.css", "public, max-age=31536000, immutable"),
        ("/render.js", None),
    ],
)
def test_static_files_and_cache_policy(client: TestClient, path: str, cache: str | None) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers.get("cache-control") == cache
    assert response.headers["x-content-type-options"] == "nosniff"


def test_not_found_and_traversal(client: TestClient, dist: Path) -> None:
    (dist.parent / "secret.txt").write_text("secret")
    assert client.get("/nope.js").status_code == 404
    response = client.get("/../secret.txt")
    assert response.status_code == 404 or "secret" not in response.text
    assert client.get("/%2e%2e/secret.txt").status_code == 404


def test_missing_dist_gives_503(tmp_path: Path) -> None:
    client = TestClient(create_app(settings(tmp_path / "no-dist")))
    response = client.get("/")
    assert response.status_code == 503
    assert "python build.py" in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # The API routes still work without the bundle.
    assert client.get("/healthz").status_code == 200
    assert client.get("/config.json").status_code == 200


def test_hsts_behind_https_public_url(dist: Path) -> None:
    app = create_app(settings(dist, public_url="https://chat.example.org/"))
    response = TestClient(app).get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_lifespan_runs(dist: Path) -> None:
    with TestClient(create_app(settings(dist))) as client:
        assert client.get("/healthz").status_code == 200


def test_cache_policy_names() -> None:
    assert cache_policy("/") == "no-cache"
    assert cache_policy("/a/b/page.html") == "no-cache"
    assert cache_policy("/brython.js") is None
    assert cache_policy("/x.deadbeef.js") == "public, max-age=31536000, immutable"
    assert cache_policy("/x.notahash.js") is None
