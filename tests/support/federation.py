"""Two federated Prosody servers on loopback, for tests of server-to-server use.

`Federation` starts server A (`a.test`) and server B (`b.test`), each with the
accounts alice, bob and carol (password = name), c2s and mod_websocket/BOSH
on its own loopback address, a MUC service `conference.<domain>` (public,
persistent, archived rooms) and s2s links to the other. Every account has
the other five in its roster (subscription both), so a client of A sees
contacts of B from the start.

How the servers find each other (shared/PROSODY.md §A.2, "Recipe 1"): Prosody
0.12 always dials port 5269 unless an SRV record says otherwise, and ignores
/etc/hosts. Each server gets a private libunbound setup instead:

* a hosts file of its own (`<root>/hosts`) that names the two loopback
  addresses (`xmpp-a.roostfed`, `xmpp-b.roostfed`: no `.test` names there, or
  libunbound refuses the redirect zone below);
* a `test. redirect` local zone whose one SRV record points at the *peer's*
  s2s port: whatever `*.test` name the server looks up (b.test,
  conference.b.test, ...) leads to the other server.

So nothing on the machine changes: no /etc/hosts edit, no DNS server, no
namespaces, no root-only steps. s2s is plain dialback (no TLS), which is the
shortest verified variant. Needs `lua-unbound` (Prosody's resolver reads the
`unbound` settings only through it).

    with Federation() as fed:
        fed.a.c2s_port, fed.b.websocket_url, fed.b.muc_domain, fed.jid("alice", fed.b)
"""

from __future__ import annotations

import glob
import shutil
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backend.devserver.prosody import PROSODY, Contact, ProsodyServer, free_port

FEDERATION_USERS = {"alice": "alice", "bob": "bob", "carol": "carol"}
NAMES = {"alice": "Alice", "bob": "Bob", "carol": "Carol"}
# Debian's lua-unbound, for any Lua version (Prosody 0.12 on Debian 12 runs lua5.4).
LUA_UNBOUND = "/usr/lib/*/lua/5.*/lunbound.so"


class FederationError(RuntimeError):
    """A federated Prosody is missing a part, failed to start or to link up."""


def missing_parts() -> list[str]:
    """What this machine lacks to run a Federation (empty when all is there)."""
    missing = []
    if not Path(PROSODY).exists():
        missing.append(f"Prosody ({PROSODY}, apt package prosody)")
    if not glob.glob(LUA_UNBOUND):
        missing.append("Prosody's DNS resolver for s2s (apt package lua-unbound)")
    return missing


def _bindable(host: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((host, 0))
    except OSError:
        return False
    return True


def _lua_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def federation_rosters(domain: str, other: str) -> dict[str, list[Contact]]:
    """Every account of `domain` knows the others there and all of `other`."""
    return {
        user: [Contact(f"{u}@{domain}", NAMES.get(u, u), "both", ["Friends"])
               for u in FEDERATION_USERS if u != user]
        + [Contact(f"{u}@{other}", f"{NAMES.get(u, u)} ({other})", "both", ["Elsewhere"])
           for u in FEDERATION_USERS]
        for user in FEDERATION_USERS
    }


class Federation:
    """Servers `a` and `b` (ProsodyServer), linked by s2s; see the module doc.

    `root`: where configs, data and logs go; by default a temporary directory
    removed by `stop()` (a given root is left in place, logs included).
    `hosts`: the two loopback addresses; if this machine can't bind the
    second and third ones (127.0.0.2/3 need no setup on Linux), both servers
    share 127.0.0.1 (the SRV record carries the port, so that works too).
    """

    def __init__(
        self,
        root: Path | None = None,
        domains: tuple[str, str] = ("a.test", "b.test"),
        hosts: tuple[str, str] = ("127.0.0.2", "127.0.0.3"),
        log_level: str = "info",
    ) -> None:
        for d in domains:
            if not d.endswith(".test") or d.count(".") != 1:
                raise ValueError(f"federation domains are <name>.test, not {d!r}")
        if domains[0] == domains[1]:
            raise ValueError("the two servers need different domains")
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="roost-federation-")) if root is None else root
        if not all(_bindable(h) for h in hosts):
            hosts = ("127.0.0.1", "127.0.0.1")
        self.users = dict(FEDERATION_USERS)
        self.hosts_file = self.root / "hosts"
        names = [f"xmpp-{label}.roostfed" for label in ("a", "b")]
        s2s_ports = [free_port(h) for h in hosts]
        self.a, self.b = (
            ProsodyServer(
                self.root / label,
                domain=domains[i],
                users=self.users,
                rosters=federation_rosters(domains[i], domains[1 - i]),
                host=hosts[i],
                s2s_port=s2s_ports[i],
                log_level=log_level,
                global_config=self._resolver(peer_port=s2s_ports[1 - i], peer_name=names[1 - i]),
            )
            for i, label in enumerate(("a", "b"))
        )
        self._hosts_text = "".join(f"{hosts[i]} {names[i]}\n" for i in range(2))
        self.startup_seconds = 0.0

    def _resolver(self, peer_port: int, peer_name: str) -> str:
        """libunbound settings: every `*.test` SRV lookup answers with the peer."""
        srv = f"test. 60 IN SRV 0 0 {peer_port} {peer_name}."
        return (
            "unbound = {\n"
            "  resolvconf = false;\n"
            f"  hoststxt = {_lua_str(str(self.hosts_file))};\n"
            "  options = {\n"
            '    ["local-zone:"] = "test. redirect";\n'
            f'    ["local-data:"] = {_lua_str(srv)};\n'
            "  };\n"
            "}\n"
        )

    @property
    def servers(self) -> tuple[ProsodyServer, ProsodyServer]:
        return (self.a, self.b)

    @staticmethod
    def jid(user: str, server: ProsodyServer, resource: str = "") -> str:
        return f"{user}@{server.domain}" + (f"/{resource}" if resource else "")

    def start(self, timeout: float = 20.0) -> Federation:
        """Start both servers at once; FederationError if a part is missing."""
        missing = missing_parts()
        if missing:
            raise FederationError("missing: " + "; ".join(missing))
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.hosts_file.write_text(self._hosts_text)
        with ThreadPoolExecutor(2, thread_name_prefix="prosody-start") as pool:
            futures = [pool.submit(s.start, timeout) for s in self.servers]
            errors = [f.exception() for f in futures]
        failed = [e for e in errors if e is not None]
        if failed:
            self.stop()
            raise FederationError(f"a federated Prosody did not start: {failed[0]}; "
                                  f"{self.where()}") from failed[0]
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Kill both servers (SIGKILL: throw-away data) and remove an own root."""
        with ThreadPoolExecutor(2, thread_name_prefix="prosody-stop") as pool:
            list(pool.map(lambda s: s.stop(), self.servers))
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def where(self) -> str:
        """Where to look when a federation test fails."""
        return f"logs: {self.a.log_path}, {self.b.log_path}"

    def log_tail(self, lines: int = 30) -> str:
        """The end of both servers' logs (for assertion messages)."""
        out = []
        for s in self.servers:
            try:
                text = s.log_path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                text = ["(no log)"]
            out.append(f"--- {s.domain} ({s.log_path})\n" + "\n".join(text))
        return "\n".join(out)

    def __enter__(self) -> Federation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
