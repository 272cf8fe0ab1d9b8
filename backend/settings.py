"""Typed settings: one TOML file plus `ROOST_*` environment overrides.

File layout (see `roost.example.toml` for every option, commented)::

    [server]            host, port, static_dir, public_url
    [[xmpp.servers]]    domain, host, port, tls, ca_file, allow_private_addresses
    [websocket]         allowed_origins, max_stanza_size, connect_timeout,
                        auth_timeout, max_sessions_per_ip
    [client]            websocket_url, default_domain
    [push]              enabled, jid, component_host, component_port, secret,
                        secret_file, vapid_subject, vapid_private_key, data_dir,
                        store, domains, ttl, retry_attempts,
                        allow_private_endpoints, ca_file

Environment overrides: `ROOST_<SECTION>__<KEY>=value`, path segments joined
by a double underscore, case-insensitive; list items of `xmpp.servers` are
addressed by index (an index one past the end appends a server)::

    ROOST_SERVER__PORT=8081
    ROOST_WEBSOCKET__ALLOWED_ORIGINS=https://chat.example.org,https://example.org
    ROOST_XMPP__SERVERS__0__HOST=10.0.0.5
    ROOST_XMPP__SERVERS__0__TLS=direct

Values are converted to the option's type: integers, floats, booleans
(`true/false/1/0/yes/no/on/off`), comma-separated lists; an empty value
clears an optional option. Relative paths are resolved against the directory
of the config file (the current directory when there is none).

Every problem raises `ConfigError` with a message for the operator.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, get_args, get_origin
from urllib.parse import urlsplit

TlsMode = Literal["starttls", "direct", "none"]
TLS_MODES: Final = ("starttls", "direct", "none")
ENV_PREFIX: Final = "ROOST_"
DEFAULT_CONFIG: Final = "roost.toml"


class ConfigError(Exception):
    """The configuration is unusable; the message tells the operator why."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """`[server]`: where the HTTP service listens and what it serves."""

    host: str = "127.0.0.1"
    port: int = 8080
    static_dir: Path = Path("dist")
    # The address people use to reach Roost, e.g. "https://chat.example.org/".
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class XmppServer:
    """One `[[xmpp.servers]]` entry: a domain the proxy may connect to."""

    domain: str
    host: str
    port: int
    tls: TlsMode = "starttls"
    ca_file: Path | None = None
    # Let a *name* in `host` resolve to private/reserved addresses (e.g. a
    # container network). Loopback/private IP literals are always allowed.
    allow_private_addresses: bool = False


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    """`[websocket]`: the `/xmpp-websocket` proxy endpoint."""

    allowed_origins: tuple[str, ...]
    max_stanza_size: int = 262144
    connect_timeout: float = 10.0
    # Seconds from the upstream connection until SASL <success/> must have
    # reached the browser; otherwise the stream ends with policy-violation.
    auth_timeout: float = 30.0
    # Concurrent WebSocket sessions from one client address (0: no limit).
    max_sessions_per_ip: int = 20


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """`[client]`: served to the browser as `/config.json`."""

    default_domain: str
    websocket_url: str = "/xmpp-websocket"


PushStore = Literal["sqlite"]


@dataclass(frozen=True, slots=True)
class PushSettings:
    """`[push]`: the Web Push gateway, an XEP-0357 app server (backend/push/).

    It is an XMPP component of the operator's server (Prosody: a `Component`
    with `component_secret`, plus `mod_cloud_notify` on the user hosts).
    """

    enabled: bool = False
    # The component's JID, e.g. "push.example.org" (Prosody: Component "push.example.org").
    jid: str = ""
    # Where the XMPP server accepts components (XEP-0114; Prosody: component_ports).
    component_host: str = "127.0.0.1"
    component_port: int = 5347
    # The component secret, inline or (better) in a file of its own; kept out of repr().
    secret: str | None = field(default=None, repr=False)
    secret_file: Path | None = None
    # RFC 8292 `sub`: a real contact, "mailto:admin@example.org" or "https://…".
    vapid_subject: str = ""
    # PEM private key (P-256); default: <data_dir>/vapid-private-key.pem, made on first start.
    vapid_private_key: Path | None = None
    data_dir: Path = Path("roost-data")
    # Where subscriptions are kept. Only SQLite (in data_dir) for now; the
    # store is an interface so PostgreSQL can follow (issue 9).
    store: PushStore = "sqlite"
    # Accounts of these domains may register; default: every [[xmpp.servers]] domain.
    domains: tuple[str, ...] = ()
    # Seconds a push service keeps an undelivered push (RFC 8030 TTL).
    ttl: int = 86400
    # Attempts per push when the push service answers 429/5xx or is unreachable.
    retry_attempts: int = 5
    # Allow endpoints on private/loopback addresses (tests, private push services).
    allow_private_endpoints: bool = False
    # CA certificates (PEM) to verify push services with instead of the system store.
    ca_file: Path | None = None

    @property
    def component_secret(self) -> str:
        """The secret (from `secret` or `secret_file`; validated to exist when enabled)."""
        return self.secret or ""


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration, validated."""

    server: ServerSettings
    xmpp_servers: tuple[XmppServer, ...]
    websocket: WebSocketSettings
    client: ClientSettings
    push: PushSettings = PushSettings()

    def xmpp_server_for(self, domain: str) -> XmppServer | None:
        """The configured server for `domain` (case-insensitive), or None."""
        wanted = domain.strip().lower().rstrip(".")
        for server in self.xmpp_servers:
            if server.domain == wanted:
                return server
        return None

    def client_config(self) -> dict[str, Any]:
        """The JSON document the browser bundle reads from `/config.json`."""
        return {
            "websocket_url": self.client.websocket_url,
            "default_domain": self.client.default_domain,
            "domains": [s.domain for s in self.xmpp_servers],
        }


# -- loading --------------------------------------------------------------


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Read `path` (default `roost.toml` if it exists), apply env, then `overrides`.

    `overrides` (e.g. from command-line flags) win over everything:
    `{"server": {"port": 9000}}`.
    """
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None or Path(DEFAULT_CONFIG).exists():
        file = Path(path if path is not None else DEFAULT_CONFIG)
        raw = _read_toml(file)
        base = file.resolve().parent
    apply_env(raw, os.environ if environ is None else environ)
    for section, values in (overrides or {}).items():
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"[{section}] must be a table")
        target.update({k: v for k, v in values.items() if v is not None})
    return build_settings(raw, base)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}") from None


def apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Write `ROOST_A__B__C=value` into `raw["a"]["b"]["c"]` (strings, converted later)."""
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if not all(parts):
            raise ConfigError(f"environment variable {name}: empty path segment")
        node: Any = raw
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) > len(node):
                    raise ConfigError(
                        f"environment variable {name}: {part!r} is not a valid index "
                        f"(there are {len(node)} entries)"
                    )
                index = int(part)
                if index == len(node):
                    node.append({})
                if last:
                    raise ConfigError(f"environment variable {name}: names a whole entry")
                node = node[index]
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name}: {part!r} is not a table")
            if last:
                node[part] = _EnvValue(environ[name], name)
            else:
                default: Any = [] if (part == "servers" and parts[i - 1] == "xmpp") else {}
                node = node.setdefault(part, default)


class _EnvValue(str):
    """A string from the environment: converted to the option's type on use."""

    env_name: str

    def __new__(cls, value: str, env_name: str) -> _EnvValue:
        obj = super().__new__(cls, value)
        obj.env_name = env_name
        return obj


# -- validation -----------------------------------------------------------

_SECTIONS: Final = ("server", "xmpp", "websocket", "client", "push")
T = TypeVar("T")


def build_settings(raw: Mapping[str, Any], base: Path = Path()) -> Settings:
    """Validate a raw mapping (as read from TOML) into `Settings`."""
    for key in raw:
        if key not in _SECTIONS:
            raise ConfigError(f"unknown section [{key}] (known: {', '.join(_SECTIONS)})")
    server_raw = _table(raw, "server")
    server = _build(ServerSettings, server_raw, "[server]")
    server = _replace_path(server, "static_dir", base)
    if server.public_url is not None:
        _origin_of(server.public_url, "[server] public_url")
    if not 0 < server.port < 65536:
        raise ConfigError(f"[server] port must be between 1 and 65535 (got {server.port})")

    xmpp_raw = _table(raw, "xmpp")
    for key in xmpp_raw:
        if key != "servers":
            raise ConfigError(f"unknown option [xmpp] {key} (did you mean [[xmpp.servers]]?)")
    servers_raw = xmpp_raw.get("servers", [])
    if not isinstance(servers_raw, list) or not servers_raw:
        raise ConfigError(
            "configure at least one XMPP server: [[xmpp.servers]] with domain and host"
        )
    servers = tuple(_build_xmpp(entry, i, base) for i, entry in enumerate(servers_raw))
    domains = [s.domain for s in servers]
    if len(set(domains)) != len(domains):
        raise ConfigError("[[xmpp.servers]] lists the same domain twice")

    ws_raw = dict(_table(raw, "websocket"))
    if "allowed_origins" not in ws_raw:
        ws_raw["allowed_origins"] = default_origins(server)
    websocket = _build(WebSocketSettings, ws_raw, "[websocket]")
    origins = tuple(
        _origin_of(o, "[websocket] allowed_origins") for o in websocket.allowed_origins
    )
    if not origins:
        raise ConfigError("[websocket] allowed_origins is empty: no browser could connect")
    if websocket.max_stanza_size < 10000:
        raise ConfigError(
            "[websocket] max_stanza_size must be at least 10000 bytes (RFC 6120 §13.12)"
        )
    if websocket.connect_timeout <= 0:
        raise ConfigError("[websocket] connect_timeout must be positive")
    if websocket.auth_timeout <= 0:
        raise ConfigError("[websocket] auth_timeout must be positive")
    if websocket.max_sessions_per_ip < 0:
        raise ConfigError("[websocket] max_sessions_per_ip must be 0 (no limit) or more")
    websocket = replace(websocket, allowed_origins=origins)

    client_raw = dict(_table(raw, "client"))
    client_raw.setdefault("default_domain", servers[0].domain)
    client = _build(ClientSettings, client_raw, "[client]")
    default_domain = client.default_domain.strip().lower()
    if default_domain not in domains:
        raise ConfigError(
            f"[client] default_domain {client.default_domain!r} is not one of the "
            f"configured [[xmpp.servers]] domains ({', '.join(domains)})"
        )
    client = ClientSettings(default_domain, client.websocket_url)
    push = _build_push(_table(raw, "push"), base, domains)
    return Settings(server, servers, websocket, client, push)


def default_origins(server: ServerSettings) -> list[str]:
    """Origins allowed when none are configured: the public URL's, else loopback."""
    if server.public_url:
        return [_origin_of(server.public_url, "[server] public_url")]
    return [f"http://localhost:{server.port}", f"http://127.0.0.1:{server.port}"]


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]`, lowercased, default port dropped; None if not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == {"http": 80, "https": 443}[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _origin_of(value: str, where: str) -> str:
    origin = normalize_origin(value)
    if origin is None or value == "*":
        raise ConfigError(
            f"{where}: {value!r} is not an http(s) origin like https://chat.example.org"
        )
    return origin


def is_loopback_host(host: str) -> bool:
    """True for loopback IP literals and the name `localhost` (RFC 6761)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _build_xmpp(entry: Any, index: int, base: Path) -> XmppServer:
    where = f"[[xmpp.servers]] #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    entry = dict(entry)
    if "tls" in entry and str(entry["tls"]).lower() not in TLS_MODES:
        raise ConfigError(
            f"{where}: tls must be one of 'starttls', 'direct', 'none' (got {entry['tls']!r})"
        )
    if "tls" in entry:
        entry["tls"] = str(entry["tls"]).lower()
    if "port" not in entry:
        entry["port"] = 5223 if entry.get("tls") == "direct" else 5222
    server = _build(XmppServer, entry, where)
    domain = server.domain.strip().lower().rstrip(".")
    if not domain or any(c in domain for c in "@/ \t") or len(domain) > 1023:
        raise ConfigError(f"{where}: domain {server.domain!r} is not a domain name")
    if not server.host.strip():
        raise ConfigError(f"{where}: host is empty")
    if not 0 < server.port < 65536:
        raise ConfigError(f"{where}: port must be between 1 and 65535 (got {server.port})")
    if server.tls == "none" and not is_loopback_host(server.host):
        raise ConfigError(
            f"{where}: tls = \"none\" is only allowed when host is a loopback address "
            f"(127.0.0.1, ::1 or localhost), not {server.host!r}; use \"starttls\" or \"direct\""
        )
    ca_file = server.ca_file
    if ca_file is not None:
        ca_file = ca_file if ca_file.is_absolute() else base / ca_file
        if not ca_file.is_file():
            raise ConfigError(f"{where}: ca_file {ca_file} does not exist")
    return XmppServer(
        domain, server.host.strip(), server.port, server.tls, ca_file,
        server.allow_private_addresses,
    )


def _build_push(raw: Mapping[str, Any], base: Path, domains: list[str]) -> PushSettings:
    push = _build(PushSettings, raw, "[push]")

    def path(value: Path | None) -> Path | None:
        return None if value is None or value.is_absolute() else base / value

    data_dir = push.data_dir if push.data_dir.is_absolute() else base / push.data_dir
    push = replace(
        push, data_dir=data_dir, secret_file=path(push.secret_file) or push.secret_file,
        vapid_private_key=path(push.vapid_private_key) or push.vapid_private_key,
        ca_file=path(push.ca_file) or push.ca_file,
        domains=tuple(d.strip().lower().rstrip(".") for d in push.domains) or tuple(domains),
        jid=push.jid.strip().lower(),
    )
    if not push.enabled:
        return push
    if not push.jid or any(c in push.jid for c in "@/ \t"):
        raise ConfigError(
            f"[push] jid {push.jid!r} must be the push component's domain, "
            "e.g. \"push.example.org\" (Prosody: Component \"push.example.org\")"
        )
    if not push.component_host.strip():
        raise ConfigError("[push] component_host is empty")
    if not 0 < push.component_port < 65536:
        raise ConfigError(
            f"[push] component_port must be between 1 and 65535 (got {push.component_port})")
    if push.secret is not None and push.secret_file is not None:
        raise ConfigError("[push] set secret or secret_file, not both")
    if push.secret_file is not None:
        try:
            secret = push.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"[push] cannot read secret_file {push.secret_file}: {exc.strerror}") from None
        push = replace(push, secret=secret)
    if not push.secret:
        raise ConfigError(
            "[push] needs the component secret (secret_file or secret): the same value as "
            "component_secret in the XMPP server's Component section")
    problem = vapid_subject_problem(push.vapid_subject)
    if problem:
        raise ConfigError(f"[push] vapid_subject: {problem}")
    if push.ttl < 0 or push.ttl > 2419200:
        raise ConfigError(f"[push] ttl must be between 0 and 2419200 seconds (got {push.ttl})")
    if not 1 <= push.retry_attempts <= 20:
        raise ConfigError(
            f"[push] retry_attempts must be between 1 and 20 (got {push.retry_attempts})")
    if push.ca_file is not None and not push.ca_file.is_file():
        raise ConfigError(f"[push] ca_file {push.ca_file} does not exist")
    if not push.domains:
        raise ConfigError("[push] domains is empty: no account could register")
    return push


def vapid_subject_problem(subject: str) -> str | None:
    """Why `subject` can't be the VAPID `sub` claim (RFC 8292 §2.1), or None.

    Push services want a way to reach the operator: a `mailto:` address or an
    `https:` URL. Apple's service rejects `localhost`, so loopback and
    `.localhost` names are refused here rather than by the push service later.
    """
    subject = subject.strip()
    if not subject:
        return ("missing: set a contact for push services, e.g. "
                "\"mailto:admin@example.org\" (Apple rejects pushes without one)")
    if subject.lower().startswith("mailto:"):
        local, _, host = subject[7:].rpartition("@")
        if not local or not host or any(c in subject for c in " <>"):
            return f"{subject!r} is not a mailto: address like mailto:admin@example.org"
    elif subject.lower().startswith("https://"):
        host = urlsplit(subject).hostname or ""
        if not host:
            return f"{subject!r} is not an https:// URL"
    else:
        return f"{subject!r} must start with mailto: or https://"
    host = host.lower().rstrip(".")
    if is_loopback_host(host) or host.endswith(".localhost") or "." not in host:
        return (f"{subject!r} names {host!r}, which push services can't reach "
                "(Apple rejects localhost): use a real address")
    return None


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _replace_path(obj: ServerSettings, name: str, base: Path) -> ServerSettings:
    path: Path = getattr(obj, name)
    if path.is_absolute():
        return obj
    return ServerSettings(obj.host, obj.port, base / path, obj.public_url)


def _build(cls: type[T], raw: Mapping[str, Any], where: str) -> T:
    """Construct dataclass `cls` from `raw`, checking names and types."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown option {where} {key} (known: {', '.join(sorted(known))})")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in raw:
            kwargs[f.name] = _convert(raw[f.name], hints[f.name], f"{where} {f.name}")
    try:
        return cls(**kwargs)
    except TypeError:
        missing = [
            f.name for f in fields(cls)  # type: ignore[arg-type]
            if f.name not in kwargs and f.default is MISSING and f.default_factory is MISSING
        ]
        raise ConfigError(f"{where}: missing required option(s): {', '.join(missing)}") from None


def _convert(value: Any, hint: Any, where: str) -> Any:
    env = getattr(value, "env_name", None)
    origin = get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in get_args(hint) if a is not type(None)]
        if env is not None and value == "":
            return None
        return _convert(value, inner[0], where)
    if origin is Literal:
        if value not in get_args(hint):
            allowed = ", ".join(repr(a) for a in get_args(hint))
            raise ConfigError(f"{where} must be one of {allowed} (got {value!r})")
        return str(value)
    if origin is tuple:
        if env is not None:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    if hint is bool:
        if env is not None:
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false (got {value!r})")
        return value
    if hint is int:
        if env is not None:
            try:
                return int(value)
            except ValueError:
                raise ConfigError(
                    f"{where} must be an integer (got {value!r} from {env})"
                ) from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer (got {value!r})")
        return value
    if hint is float:
        if env is not None:
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{where} must be a number (got {value!r} from {env})") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number (got {value!r})")
        return float(value)
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a path (got {value!r})")
        return Path(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string (got {value!r})")
        return str(value)
    raise ConfigError(f"{where}: unsupported option type")  # pragma: no cover
