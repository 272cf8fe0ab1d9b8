"""`[push]` settings, `roost check-config` on them, and `/config.json`'s `push`."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from backend.app import create_app
from backend.cli import main
from backend.push.vapid import DEFAULT_KEY_NAME
from backend.settings import ConfigError, build_settings, load_settings, vapid_subject_problem

SERVERS = {"servers": [{"domain": "example.org", "host": "xmpp.example.org"},
                       {"domain": "localhost", "host": "127.0.0.1", "tls": "none"}]}


def push_raw(tmp_path: Path, **options: Any) -> dict[str, Any]:
    return {"enabled": True, "jid": "push.example.org", "secret": "s3cret",
            "vapid_subject": "mailto:admin@example.org", "data_dir": str(tmp_path / "data"),
            **options}


def test_push_is_off_by_default() -> None:
    s = build_settings({"xmpp": SERVERS})
    assert not s.push.enabled
    assert s.push.domains == ("example.org", "localhost")


def test_defaults_when_enabled(tmp_path: Path) -> None:
    p = build_settings({"xmpp": SERVERS, "push": push_raw(tmp_path)}).push
    assert (p.jid, p.component_host, p.component_port) == ("push.example.org", "127.0.0.1", 5347)
    assert (p.ttl, p.retry_attempts, p.allow_private_endpoints, p.store) == (
        86400, 5, False, "sqlite")
    assert p.component_secret == "s3cret"
    assert "s3cret" not in repr(p)


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("from-a-file\n")
    config = tmp_path / "roost.toml"
    config.write_text(
        '[[xmpp.servers]]\ndomain = "example.org"\nhost = "x.example.org"\n'
        '[push]\nenabled = true\njid = "push.example.org"\nsecret_file = "secret.txt"\n'
        'vapid_subject = "https://example.org/contact"\ndata_dir = "state"\n'
        'domains = ["example.org", "Other.Example."]\n')
    p = load_settings(config, environ={}).push
    assert p.data_dir == tmp_path / "state"
    assert p.component_secret == "from-a-file"
    assert p.domains == ("example.org", "other.example")


def test_environment_overrides(tmp_path: Path) -> None:
    p = load_settings(None, environ={
        "ROOST_XMPP__SERVERS__0__DOMAIN": "example.org",
        "ROOST_XMPP__SERVERS__0__HOST": "x.example.org",
        "ROOST_PUSH__ENABLED": "true", "ROOST_PUSH__JID": "push.example.org",
        "ROOST_PUSH__SECRET": "env-secret", "ROOST_PUSH__COMPONENT_PORT": "15347",
        "ROOST_PUSH__VAPID_SUBJECT": "mailto:ops@example.org",
        "ROOST_PUSH__DATA_DIR": str(tmp_path),
        "ROOST_PUSH__ALLOW_PRIVATE_ENDPOINTS": "yes",
    }).push
    assert (p.component_port, p.component_secret, p.allow_private_endpoints) == (
        15347, "env-secret", True)


@pytest.mark.parametrize(("options", "message"), [
    ({"vapid_subject": ""}, "vapid_subject: missing"),
    ({"vapid_subject": "mailto:admin@localhost"}, "Apple rejects localhost"),
    ({"vapid_subject": "https://localhost:8080"}, "Apple rejects localhost"),
    ({"vapid_subject": "mailto:me@chat.localhost"}, "Apple rejects localhost"),
    ({"vapid_subject": "mailto:me@127.0.0.1"}, "Apple rejects localhost"),
    ({"vapid_subject": "admin@example.org"}, "must start with mailto: or https://"),
    ({"secret": None}, "needs the component secret"),
    ({"secret_file": "x"}, "set secret or secret_file, not both"),
    ({"jid": "push@example.org"}, "must be the push component's domain"),
    ({"jid": ""}, "must be the push component's domain"),
    ({"component_port": 0}, "component_port must be between"),
    ({"ttl": -1}, "ttl must be between"),
    ({"retry_attempts": 0}, "retry_attempts must be between"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
    ({"store": "postgresql"}, "store must be one of 'sqlite'"),
    ({"colour": "blue"}, "unknown option [push] colour"),
])
def test_errors(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    raw = {k: v for k, v in push_raw(tmp_path, **options).items() if v is not None}
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_settings({"xmpp": SERVERS, "push": raw})


def test_disabled_push_is_not_validated() -> None:
    assert not build_settings({"xmpp": SERVERS, "push": {"enabled": False}}).push.enabled


def test_subject_rules() -> None:
    assert vapid_subject_problem("mailto:admin@example.org") is None
    assert vapid_subject_problem("https://chat.example.org/") is None
    assert vapid_subject_problem("mailto:@example.org") is not None
    assert vapid_subject_problem("mailto:admin@intranet") is not None  # no dot: not public


def test_check_config_refuses_a_localhost_subject(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "roost.toml"
    base = ('[[xmpp.servers]]\ndomain = "localhost"\nhost = "127.0.0.1"\ntls = "none"\n'
            '[push]\nenabled = true\njid = "push.localhost"\nsecret = "x"\n')
    config.write_text(base + 'vapid_subject = "mailto:me@localhost"\n')
    assert main(["check-config", "--config", str(config)]) == 2
    assert "Apple rejects localhost" in capsys.readouterr().err
    config.write_text(base + 'vapid_subject = "mailto:me@example.org"\n')
    assert main(["check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "push: component push.localhost via 127.0.0.1:5347" in out
    assert not (tmp_path / "roost-data").exists()  # check-config creates nothing
    (tmp_path / "roost-data").mkdir()
    (tmp_path / "roost-data" / DEFAULT_KEY_NAME).write_text("not a key")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "is not a PEM private key" in capsys.readouterr().err


def test_config_json_push_object_and_key_made_once(tmp_path: Path) -> None:
    off = TestClient(create_app(build_settings({"xmpp": SERVERS})))
    assert off.get("/config.json").json()["push"] is None

    settings = build_settings({"xmpp": SERVERS, "push": push_raw(tmp_path)})
    first = TestClient(create_app(settings)).get("/config.json").json()["push"]
    key_file = tmp_path / "data" / DEFAULT_KEY_NAME
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert first["jid"] == "push.example.org"
    assert len(first["vapid_public_key"]) == 87 and first["vapid_public_key"].startswith("B")
    again = TestClient(create_app(settings)).get("/config.json").json()["push"]
    assert again == first  # the same key on the next start
