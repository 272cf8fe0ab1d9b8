"""backend/settings.py: TOML + ROOST_* overrides, defaults and validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.settings import (
    ConfigError,
    build_settings,
    load_settings,
    normalize_origin,
)

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """
[[xmpp.servers]]
domain = "example.org"
host = "xmpp.example.org"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roost.toml"
    path.write_text(text)
    return path


def error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        build_settings(raw)
    return str(info.value)


def server(**kw: Any) -> dict[str, Any]:
    return {"xmpp": {"servers": [{"domain": "example.org", "host": "xmpp.example.org", **kw}]}}


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, MINIMAL), environ={})
    assert s.server.host == "127.0.0.1"
    assert s.server.port == 8080
    assert s.server.static_dir == tmp_path / "dist"  # relative to the config file
    assert s.server.public_url is None
    (x,) = s.xmpp_servers
    assert (x.domain, x.host, x.port, x.tls, x.ca_file) == (
        "example.org", "xmpp.example.org", 5222, "starttls", None)
    assert s.websocket.allowed_origins == ("http://localhost:8080", "http://127.0.0.1:8080")
    assert s.websocket.max_stanza_size == 262144
    assert s.websocket.connect_timeout == 10.0
    assert s.websocket.auth_timeout == 30.0
    assert s.websocket.max_sessions_per_ip == 20
    assert s.client.websocket_url == "/xmpp-websocket"
    assert s.client.default_domain == "example.org"
    assert s.client_config() == {
        "websocket_url": "/xmpp-websocket", "default_domain": "example.org",
        "domains": ["example.org"],
    }


def test_example_file_is_valid() -> None:
    s = load_settings(ROOT / "roost.example.toml", environ={})
    assert s.xmpp_servers[0].tls == "none"


def test_full_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    s = load_settings(write(tmp_path, """
[server]
host = "0.0.0.0"
port = 9000
static_dir = "/srv/roost"
public_url = "https://Chat.Example.org:443/roost/"

[[xmpp.servers]]
domain = "Example.ORG"
host = "xmpp.example.org"
tls = "direct"
ca_file = "ca.pem"

[[xmpp.servers]]
domain = "local.test"
host = "::1"
port = 5300
tls = "none"

[websocket]
max_stanza_size = 100000
connect_timeout = 3
auth_timeout = 12.5
max_sessions_per_ip = 0

[client]
default_domain = "local.test"
websocket_url = "wss://chat.example.org/ws"
"""), environ={})
    assert s.server.static_dir == Path("/srv/roost")
    assert s.websocket.allowed_origins == ("https://chat.example.org",)
    a, b = s.xmpp_servers
    assert (a.domain, a.port, a.tls, a.ca_file) == ("example.org", 5223, "direct", ca)
    assert (b.host, b.port, b.tls) == ("::1", 5300, "none")
    assert s.websocket.connect_timeout == 3.0
    assert (s.websocket.auth_timeout, s.websocket.max_sessions_per_ip) == (12.5, 0)
    assert s.client.default_domain == "local.test"
    assert s.xmpp_server_for("EXAMPLE.org.") is a
    assert s.xmpp_server_for("evil.example") is None


def test_env_overrides(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, MINIMAL), environ={
        "ROOST_SERVER__PORT": "8081",
        "ROOST_WEBSOCKET__ALLOWED_ORIGINS": "https://a.example, https://b.example:8443",
        "ROOST_WEBSOCKET__CONNECT_TIMEOUT": "2.5",
        "ROOST_WEBSOCKET__MAX_SESSIONS_PER_IP": "5",
        "ROOST_XMPP__SERVERS__0__HOST": "10.0.0.5",
        "ROOST_XMPP__SERVERS__0__ALLOW_PRIVATE_ADDRESSES": "yes",
        "ROOST_XMPP__SERVERS__1__DOMAIN": "second.example",
        "ROOST_XMPP__SERVERS__1__HOST": "127.0.0.1",
        "ROOST_XMPP__SERVERS__1__TLS": "none",
        "ROOST_SERVER__PUBLIC_URL": "",
        "OTHER": "ignored",
    })
    assert s.server.port == 8081
    assert s.websocket.allowed_origins == ("https://a.example", "https://b.example:8443")
    assert s.websocket.connect_timeout == 2.5
    assert s.websocket.max_sessions_per_ip == 5
    assert s.xmpp_servers[0].host == "10.0.0.5"
    assert s.xmpp_servers[0].allow_private_addresses is True
    assert s.xmpp_servers[1].domain == "second.example"
    assert s.server.public_url is None


def test_env_alone_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={
        "ROOST_XMPP__SERVERS__0__DOMAIN": "localhost",
        "ROOST_XMPP__SERVERS__0__HOST": "127.0.0.1",
        "ROOST_XMPP__SERVERS__0__TLS": "none",
    })
    assert s.xmpp_servers[0].domain == "localhost"


def test_default_origins_follow_port_override(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, MINIMAL), environ={}, overrides={"server": {"port": 9999}})
    assert s.websocket.allowed_origins == ("http://localhost:9999", "http://127.0.0.1:9999")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ROOST_SERVER__PORT": "eighty"}, "[server] port must be an integer"),
        ({"ROOST_XMPP__SERVERS__5__HOST": "x"}, "not a valid index"),
        ({"ROOST_SERVER__NOPE": "1"}, "unknown option [server] nope"),
        ({"ROOST_XMPP__SERVERS__0__ALLOW_PRIVATE_ADDRESSES": "maybe"}, "true or false"),
        ({"ROOST_SERVER____PORT": "1"}, "empty path segment"),
    ],
)
def test_env_errors(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, MINIMAL), environ=env)
    assert message in str(info.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[server\nport = 1"), environ={})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "configure at least one XMPP server"),
        ({"xmpp": {"servers": []}}, "at least one XMPP server"),
        ({"xmpp": {"server": []}}, "did you mean [[xmpp.servers]]"),
        ({"bogus": {}, **server()}, "unknown section [bogus]"),
        (server(tls="ssl"), "tls must be one of 'starttls', 'direct', 'none'"),
        (server(tls="none"), 'tls = "none" is only allowed when host is a loopback'),
        ({"xmpp": {"servers": [{"domain": "a.example", "host": "10.0.0.1", "tls": "none"}]}},
         "loopback"),
        ({"xmpp": {"servers": [{"host": "x"}]}}, "missing required option(s): domain"),
        ({"xmpp": {"servers": [{"domain": "a@b", "host": "x"}]}}, "is not a domain name"),
        (server(port=70000), "port must be between 1 and 65535"),
        (server(port="5222"), "port must be an integer"),
        (server(ca_file="/nonexistent/ca.pem"), "ca_file /nonexistent/ca.pem does not exist"),
        (server(colour="blue"), "unknown option [[xmpp.servers]] #1 colour"),
        ({**server(), "xmpp": {"servers": [
            {"domain": "a.example", "host": "h"}, {"domain": "A.example", "host": "h"}]}},
         "same domain twice"),
        ({**server(), "websocket": {"allowed_origins": ["*"]}}, "is not an http(s) origin"),
        ({**server(), "websocket": {"allowed_origins": ["chat.example.org"]}}, "not an http(s)"),
        ({**server(), "websocket": {"allowed_origins": "https://a.example"}}, "list of strings"),
        ({**server(), "websocket": {"allowed_origins": []}}, "allowed_origins is empty"),
        ({**server(), "websocket": {"max_stanza_size": 100}}, "at least 10000"),
        ({**server(), "websocket": {"connect_timeout": 0}}, "must be positive"),
        ({**server(), "websocket": {"connect_timeout": True}}, "must be a number"),
        ({**server(), "websocket": {"auth_timeout": 0}}, "auth_timeout must be positive"),
        ({**server(), "websocket": {"max_sessions_per_ip": -1}}, "0 (no limit) or more"),
        ({**server(), "websocket": {"max_sessions_per_ip": 2.5}}, "must be an integer"),
        ({**server(), "client": {"default_domain": "other.example"}},
         "is not one of the configured"),
        ({**server(), "server": {"public_url": "ftp://x"}}, "not an http(s) origin"),
        ({**server(), "server": "x"}, "[server] must be a table"),
    ],
)
def test_validation_errors(raw: dict[str, Any], message: str) -> None:
    assert message in error(raw)


def test_loopback_plaintext_hosts_accepted() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"):
        s = build_settings({"xmpp": {"servers": [
            {"domain": "d.example", "host": host, "tls": "none"}]}})
        assert s.xmpp_servers[0].tls == "none"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://localhost:8080", "http://localhost:8080"),
        ("HTTPS://Chat.Example.ORG:443", "https://chat.example.org"),
        ("http://example.org:80/", "http://example.org"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("null", None),
        ("file://x", None),
        ("http://user@example.org", None),
        ("http://example.org:99999", None),
        ("http://", None),
    ],
)
def test_normalize_origin(value: str, expected: str | None) -> None:
    assert normalize_origin(value) == expected
