"""Run a private Prosody for the demo and the test suite.

Debian's `prosody` package, started with its own config and data directory on
loopback ports, with accounts and rosters written before start (registering
through `prosodyctl` costs ~40 ms per user; writing the roster store directly
is instant and needs no running server). The config follows the verified
recipe in shared/PROSODY.md §C (plaintext on loopback only).

Push (XEP-0357): every instance loads `mod_cloud_notify` and declares the
component `push.<domain>` with a random secret on its own component port
(§B), so Roost's push gateway can attach: `push_settings()` is the matching
`[push]` section for Roost's settings, `push_toml()` the same as TOML.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PROSODY = "/usr/bin/prosody"
PROSODYCTL = "/usr/bin/prosodyctl"
# The VAPID `sub` of test and demo pushes: Roost refuses localhost ones (Apple does).
DEV_VAPID_SUBJECT = "mailto:roost-dev@example.org"


class ProsodyError(RuntimeError):
    """Prosody is missing, failed to start, or did not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _lua_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _store_name(name: str) -> str:
    """Prosody's datamanager file-name encoding (non-word bytes as %xx)."""
    return "".join(
        c if (c.isascii() and (c.isalnum() or c == "_"))
        else "".join(f"%{b:02x}" for b in c.encode())
        for c in name
    )


class Contact:
    """A roster entry to pre-seed: both sides normally get one."""

    __slots__ = ("groups", "jid", "name", "subscription")

    def __init__(
        self, jid: str, name: str | None = None, subscription: str = "both",
        groups: Iterable[str] = (),
    ) -> None:
        self.jid = jid
        self.name = name
        self.subscription = subscription
        self.groups = list(groups)


class ProsodyServer:
    """One Prosody instance in `root` serving `domain` (+ conference/upload components).

    `users` maps localpart → password; `rosters` maps localpart → contacts.
    Ports default to free loopback ports; `websocket_url` is Prosody's own
    mod_websocket endpoint (the "static bundle straight at Prosody" path).

    Federation (tests/support/federation.py): `host` is the loopback address
    every listener binds to; `s2s_port` turns server-to-server links on
    (plain dialback, no TLS: shared/PROSODY.md §A.5); `global_config` is Lua
    added to the global section (e.g. the resolver's `unbound = {...}` block).
    """

    def __init__(
        self,
        root: Path,
        domain: str = "localhost",
        users: Mapping[str, str] | None = None,
        rosters: Mapping[str, Iterable[Contact]] | None = None,
        c2s_port: int | None = None,
        http_port: int | None = None,
        auth: str = "internal_hashed",
        extra_modules: Iterable[str] = (),
        log_level: str = "info",
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        c2s_direct_tls_port: int | None = None,
        smacks_hibernation_time: int = 30,
        host: str = "127.0.0.1",
        s2s_port: int | None = None,
        global_config: str = "",
        component_port: int | None = None,
        extra_components: Mapping[str, str] | None = None,
        push_max_errors: int = 16,
        push_content: bool = True,
    ) -> None:
        self.root = Path(root)
        self.domain = domain
        self.host = host
        self.users = dict(users or {})
        self.rosters = {k: list(v) for k, v in (rosters or {}).items()}
        self.c2s_port = c2s_port or free_port(host)
        self.http_port = http_port or free_port(host)
        self.s2s_port = s2s_port
        self.global_config = global_config
        # XEP-0114 components: Roost's push gateway ("push.<domain>") and any
        # `extra_components` (JID → secret; tests use one as a foreign sender).
        self.component_port = component_port or free_port(host)
        self.push_jid = "push." + domain
        self.push_secret = secrets.token_hex(16)
        self.extra_components = dict(extra_components or {})
        # mod_cloud_notify disables a registration after this many error replies.
        self.push_max_errors = push_max_errors
        # mod_cloud_notify's push_notification_with_body/_with_sender: the
        # server hands the gateway sender and text, and each user's Roost
        # privacy choice decides what reaches the push service.
        self.push_content = push_content
        self.auth = auth
        self.extra_modules = list(extra_modules)
        self.log_level = log_level
        # With a certificate/key (PEM), mod_tls is loaded: c2s offers STARTTLS,
        # and `c2s_direct_tls_port` (XEP-0368) listens if given.
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.c2s_direct_tls_port = c2s_direct_tls_port
        # XEP-0198: how long (s) a session whose connection dropped can be resumed.
        self.smacks_hibernation_time = smacks_hibernation_time
        if c2s_direct_tls_port is not None and tls_cert is None:
            raise ValueError("c2s_direct_tls_port needs tls_cert and tls_key")
        self.proc: subprocess.Popen[bytes] | None = None

    # -- paths ------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "prosody.cfg.lua"

    @property
    def data_path(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "prosody.log"

    @property
    def websocket_url(self) -> str:
        return f"ws://{self.host}:{self.http_port}/xmpp-websocket"

    @property
    def bosh_url(self) -> str:
        return f"http://{self.host}:{self.http_port}/http-bind"

    @property
    def muc_domain(self) -> str:
        """The MUC service (XEP-0045) this server runs."""
        return "conference." + self.domain

    # -- lifecycle --------------------------------------------------------
    def write_config(self) -> None:
        modules = [
            "roster", "saslauth", "disco", "carbons", "pep", "private", "blocklist",
            "vcard4", "vcard_legacy", "bookmarks", "mam", "smacks", "csi_simple", "ping",
            "time", "uptime", "version", "websocket", "bosh", "http", "register",
            "cloud_notify", *self.extra_modules,
        ]
        disabled = '"s2s_auth_certs"' if self.s2s_port else '"s2s"; "s2s_auth_certs"'
        if self.s2s_port:
            # Dialback is not auto-loaded; without certificates it is how
            # servers authenticate each other.
            modules.append("dialback")
        if self.tls_cert is None:
            disabled += '; "tls"'
        else:
            modules.append("tls")
        mods = "; ".join(_lua_str(m) for m in modules)
        d = _lua_str(self.domain)
        direct = str(self.c2s_direct_tls_port) if self.c2s_direct_tls_port else ""
        h = _lua_str(self.host)
        s2s = str(self.s2s_port) if self.s2s_port else ""
        s2s_auth = ""
        if self.s2s_port:
            # 0.12 defaults to requiring encryption; Debian's shipped config
            # (not included here) sets secure auth. Plain dialback on loopback.
            s2s_auth = "s2s_require_encryption = false\ns2s_secure_auth = false\n"
        components = "".join(
            f"\nComponent {_lua_str(jid)}\n  component_secret = {_lua_str(secret)}\n"
            for jid, secret in self.extra_components.items())
        ssl = ""
        if self.tls_cert is not None and self.tls_key is not None:
            ssl = (f"ssl = {{ certificate = {_lua_str(str(self.tls_cert))}; "
                   f"key = {_lua_str(str(self.tls_key))}; }}\n")
        cfg = f"""-- generated by backend/devserver/prosody.py
run_as_root = true
daemonize = false
pidfile = {_lua_str(str(self.root / "prosody.pid"))}
data_path = {_lua_str(str(self.data_path))}
certificates = {_lua_str(str(self.root / "certs"))}
log = {{ {{ levels = {{ min = {_lua_str(self.log_level)} }}, to = "file",
          filename = {_lua_str(str(self.log_path))} }} }}
plugin_paths = {{ "/usr/lib/prosody/modules" }}
interfaces = {{ {h} }}
local_interfaces = {{ {h} }}
c2s_ports = {{ {self.c2s_port} }}
component_ports = {{ {self.component_port} }}
component_interfaces = {{ {h} }}
c2s_direct_tls_ports = {{ {direct} }}
s2s_ports = {{ {s2s} }}
s2s_direct_tls_ports = {{ }}
http_ports = {{ {self.http_port} }}
http_interfaces = {{ {h} }}
https_ports = {{ }}
https_interfaces = {{ }}
http_default_host = {d}
http_external_url = "http://{self.host}:{self.http_port}/"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
consider_websocket_secure = true
consider_bosh_secure = true
http_default_cors_enabled = true
authentication = {_lua_str(self.auth)}
storage = "internal"
storage_archive_item_limit = 1000000
modules_enabled = {{ {mods} }}
modules_disabled = {{ {disabled} }}
{ssl}{s2s_auth}{self.global_config}
allow_registration = false
archive_expires_after = "never"
default_archive_policy = true
max_archive_query_results = 100
mam_include_total = true
smacks_hibernation_time = {int(self.smacks_hibernation_time)}
push_max_errors = {int(self.push_max_errors)}
push_notification_with_body = {"true" if self.push_content else "false"}
push_notification_with_sender = {"true" if self.push_content else "false"}
c2s_stanza_size_limit = 256 * 1024

VirtualHost {d}

Component {_lua_str(self.muc_domain)} "muc"
  modules_enabled = {{ "muc_mam"; "muc_moderation" }}
  restrict_room_creation = false
  muc_room_locking = false
  muc_room_default_persistent = true
  muc_room_default_public = true
  muc_log_by_default = true
  muc_log_all_rooms = true
  muc_log_expires_after = "never"
  muc_log_include_total = true

Component {_lua_str("upload." + self.domain)} "http_file_share"
  http_file_share_size_limit = 16 * 1024 * 1024
  http_file_share_access = {{ {d} }}

Component {_lua_str(self.push_jid)}
  component_secret = {_lua_str(self.push_secret)}
{components}"""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "certs").mkdir(exist_ok=True)
        self.config_path.write_text(cfg)

    def seed(self) -> None:
        """Write accounts and rosters into the data dir (server must be stopped)."""
        host_dir = self.data_path / _store_name(self.domain)
        (host_dir / "accounts").mkdir(parents=True, exist_ok=True)
        (host_dir / "roster").mkdir(parents=True, exist_ok=True)
        for user, password in self.users.items():
            account = host_dir / "accounts" / f"{_store_name(user)}.dat"
            if self.auth == "internal_plain":
                body = f"return {{\n\t[\"password\"] = {_lua_str(password)};\n}};\n"
                account.write_text(body)
            elif self.auth == "internal_hashed":
                account.write_text(_hashed_account(password))
            else:
                self._register(user, password)
        for user, contacts in self.rosters.items():
            lines = ["return {", '\t[false] = { ["version"] = 1; ["pending"] = {}; };']
            for c in contacts:
                groups = "".join(f"[{_lua_str(g)}] = true; " for g in c.groups)
                name = f'["name"] = {_lua_str(c.name)}; ' if c.name else ""
                lines.append(
                    f'\t[{_lua_str(c.jid)}] = {{ {name}["subscription"] = '
                    f'{_lua_str(c.subscription)}; ["groups"] = {{ {groups}}}; }};'
                )
            lines.append("};")
            (host_dir / "roster" / f"{_store_name(user)}.dat").write_text("\n".join(lines) + "\n")

    def _register(self, user: str, password: str) -> None:
        subprocess.run(
            [PROSODYCTL, "--config", str(self.config_path), "register",
             user, self.domain, password],
            check=True, capture_output=True, timeout=30,
        )

    def start(self, timeout: float = 20.0) -> ProsodyServer:
        if not os.path.exists(PROSODY):
            raise ProsodyError("Prosody is not installed (apt-get install prosody prosody-modules)")
        if self.data_path.exists():
            shutil.rmtree(self.data_path)
        self.write_config()
        self.seed()
        out = open(self.root / "stdout.log", "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [PROSODY, "--config", str(self.config_path), "-F"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProsodyError(f"Prosody exited at start; see {self.log_path} / stdout.log")
            ports = [self.c2s_port, self.http_port, self.c2s_direct_tls_port, self.s2s_port,
                     self.component_port]
            if all(_port_open(p, self.host) for p in ports if p is not None):
                return self
            time.sleep(0.05)
        self.stop()
        raise ProsodyError(
            f"Prosody did not listen on {self.host}:{self.c2s_port}/{self.http_port} in time")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # Throw-away data: SIGKILL is fine and saves ~2 s per instance (PROSODY.md).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again keeping the data (for reconnect tests)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        out = open(self.root / "stdout.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [PROSODY, "--config", str(self.config_path), "-F"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _port_open(self.c2s_port, self.host):
            time.sleep(0.05)

    # -- Roost's push gateway -------------------------------------------------
    def push_settings(self, data_dir: Path, **options: Any) -> dict[str, Any]:
        """The `[push]` section (as `build_settings` takes it) for this server's
        push component; `options` add to or override it (e.g. the test Web Push
        receiver's `ca_file` and `allow_private_endpoints = True`)."""
        return {
            "enabled": True,
            "jid": self.push_jid,
            "component_host": self.host,
            "component_port": self.component_port,
            "secret": self.push_secret,
            "vapid_subject": DEV_VAPID_SUBJECT,
            "data_dir": str(data_dir),
            **{k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
        }

    def push_toml(self, data_dir: Path, **options: Any) -> str:
        """`push_settings()` as a TOML `[push]` table, for a roost.toml."""
        lines = ["[push]"]
        for key, value in self.push_settings(data_dir, **options).items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value}")
            elif isinstance(value, list | tuple):
                lines.append(f"{key} = {json.dumps(list(value))}")
            else:
                lines.append(f"{key} = {json.dumps(str(value))}")
        return "\n".join(lines) + "\n"

    def __enter__(self) -> ProsodyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _hashed_account(password: str, iterations: int = 10000) -> str:
    """An `internal_hashed` account file, as `prosodyctl register` writes it
    (SCRAM-SHA-1 StoredKey/ServerKey, hex; a fresh salt), without starting a
    prosodyctl per user. Like Prosody's default auth, and unlike
    `internal_plain`, the salt stays the same from one login to the next,
    which a remembered login (a stored SCRAM key) needs."""
    salt = secrets.token_hex(16)
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    stored_key = hashlib.sha1(client_key).hexdigest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha1).hexdigest()
    return (
        "return {\n"
        f'\t["stored_key"] = {_lua_str(stored_key)};\n'
        f'\t["server_key"] = {_lua_str(server_key)};\n'
        f'\t["salt"] = {_lua_str(salt)};\n'
        f'\t["iteration_count"] = {iterations};\n'
        "};\n"
    )


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        try:
            s.connect((host, port))
        except OSError:
            return False
    return True


DEMO_USERS = {"alice": "alice", "bob": "bob", "carol": "carol", "echo": "echo"}


def demo_rosters(domain: str) -> dict[str, list[Contact]]:
    """alice, bob, carol and the echo bot all know each other."""
    names = {"alice": "Alice", "bob": "Bob", "carol": "Carol", "echo": "Echo bot"}
    return {
        user: [Contact(f"{other}@{domain}", names[other], "both", ["Friends"])
               for other in names if other != user]
        for user in names
    }
