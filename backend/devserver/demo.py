"""`roost demo`: Roost with a private Prosody, demo accounts and an echo bot.

What runs (all on loopback, stopped together on Ctrl+C or SIGTERM):

- Prosody from Debian's package with its own config and data under
  ``.roost-run/demo/`` in the repository (reset on every start), accounts
  alice/alice, bob/bob, carol/carol and echo/echo, all in each other's rosters;
- the echo bot (`backend.devserver.bots.EchoBot`) logged in as echo@localhost;
- the Roost backend (uvicorn) on http://localhost:8080 serving ``dist/`` (built
  first when missing or older than the sources) and proxying ``/xmpp-websocket``
  to Prosody's c2s port with ``tls = "none"`` (allowed for loopback only). Its
  uvicorn config is ``backend.cli.uvicorn_config``'s, so it runs exactly like
  ``roost serve`` (only quieter: log level ``warning``).

- the push gateway (``[push]``): Roost's XEP-0357 component attached to that
  Prosody (``push.localhost``), subscriptions and its VAPID key under
  ``.roost-run/demo/push/``. Pushes reach a browser only through its vendor's
  push service, so notifications need this machine to reach the Internet.

``--direct`` points the client at Prosody's own mod_websocket endpoint instead
of the proxy: the way an operator hosting ``dist/`` alone on nginx runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from backend.devserver.bots import BotError, EchoBot
from backend.devserver.prosody import DEMO_USERS, ProsodyError, ProsodyServer, demo_rosters
from backend.settings import Settings, build_settings

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".roost-run" / "demo"
DIST = ROOT / "dist"
DOMAIN = "localhost"
# What `python build.py` reads: a change in any of these rebuilds dist/.
BUILD_INPUTS = ("build.py", "manifest.json", "frontend", "service_worker")


class DemoError(RuntimeError):
    """The demo cannot start; the message says what to do."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="roost demo",
        description="Run Roost with a private Prosody, demo accounts and an echo bot.",
    )
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; browsers allow the app's "
        "crypto only on https or on localhost)",
    )
    parser.add_argument(
        "--direct", action="store_true",
        help="connect the client straight to Prosody's own WebSocket endpoint "
        "instead of Roost's proxy",
    )
    build = parser.add_mutually_exclusive_group()
    build.add_argument(
        "--rebuild", action="store_true", help="run `python build.py` even if dist/ is fresh"
    )
    build.add_argument(
        "--no-build", action="store_true", help="serve dist/ as it is (never run build.py)"
    )
    parser.add_argument(
        "--run-dir", type=Path, default=RUN_DIR,
        help="Prosody's config, data and logs (default .roost-run/demo; wiped on start)",
    )
    args = list(argv) if argv is not None else sys.argv[1:]
    if args[:1] == ["--"]:  # `roost demo -- --port 8081`
        args = args[1:]
    opts = parser.parse_args(args)
    opts.run_dir = opts.run_dir.resolve()
    return opts


# -- dist/ ------------------------------------------------------------------


def _files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
    elif path.is_dir():
        for p in path.rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts:
                yield p


def dist_is_fresh(root: Path = ROOT, dist: Path = DIST) -> bool:
    """True when dist/ exists and every build input is older than every output."""
    outputs = [p.stat().st_mtime for p in _files(dist)]
    if not (dist / "index.html").is_file() or not outputs:
        return False
    inputs = [p.stat().st_mtime for name in BUILD_INPUTS for p in _files(root / name)]
    return not inputs or max(inputs) <= min(outputs)


def ensure_dist(force: bool = False) -> None:
    if not force and dist_is_fresh():
        return
    build = ROOT / "build.py"
    if not build.is_file():
        raise DemoError(f"{build} is missing: run the demo from a clone of the repository")
    print("roost demo: building dist/ (python build.py) ...", flush=True)
    result = subprocess.run([sys.executable, str(build)], cwd=ROOT, check=False)
    if result.returncode != 0:
        raise DemoError(f"python build.py failed (exit code {result.returncode})")


# -- the pieces ---------------------------------------------------------------


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise DemoError(
                f"port {port} on {host} is in use; stop what uses it or pick another "
                f"port: roost demo --port {port + 1}"
            ) from None


@contextlib.contextmanager
def exclusive(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir`'s lock: two demos must not share one Prosody data dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "demo.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            pid = lock.read().strip() or "?"
            raise DemoError(
                f"another roost demo (pid {pid}) is using {run_dir}; stop it first, "
                "or give this one its own --run-dir"
            ) from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_prosody(run_dir: Path = RUN_DIR) -> ProsodyServer:
    server = ProsodyServer(
        run_dir / "prosody", domain=DOMAIN, users=DEMO_USERS, rosters=demo_rosters(DOMAIN)
    )
    try:
        return server.start()
    except ProsodyError as exc:
        raise DemoError(f"{exc}. Run `bash scripts/setup.sh` (as root) first.") from None


def demo_settings(prosody: ProsodyServer, host: str, port: int, direct: bool) -> Settings:
    """The backend's settings for the demo: one loopback server, tls "none"."""
    origins = [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    if host not in ("127.0.0.1", "localhost", "0.0.0.0", "::"):
        origins.append(f"http://{host}:{port}")
    raw = {
        "server": {"host": host, "port": port, "static_dir": str(DIST)},
        "xmpp": {
            "servers": [
                {"domain": DOMAIN, "host": "127.0.0.1", "port": prosody.c2s_port, "tls": "none"}
            ]
        },
        "websocket": {"allowed_origins": origins},
        "client": {
            "default_domain": DOMAIN,
            "websocket_url": prosody.websocket_url if direct else "/xmpp-websocket",
        },
        "push": prosody.push_settings(prosody.root.parent / "push"),
    }
    return build_settings(raw, ROOT)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the demo stops every part itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def banner(port: int, prosody: ProsodyServer, direct: bool) -> str:
    url = f"http://localhost:{port}"
    width = max(len(u) for u in DEMO_USERS) + len(DOMAIN) + 1
    accounts = "\n".join(
        f"    {(u + '@' + DOMAIN).ljust(width)}  password: {p}"
        + ("   (a bot: answers every message with \"echo: <your text>\")" if u == "echo" else "")
        for u, p in DEMO_USERS.items()
    )
    path = (
        f"The browser connects straight to Prosody's own WebSocket endpoint\n"
        f"  {prosody.websocket_url} (--direct)."
        if direct
        else "The browser connects to Roost's WebSocket proxy (/xmpp-websocket),\n"
        "  which connects to Prosody."
    )
    try:
        run_dir = prosody.root.parent.relative_to(ROOT)
    except ValueError:
        run_dir = prosody.root.parent
    return f"""
Roost demo is running.

  Open {url} in a browser.

  Demo accounts (all in each other's contact lists):
{accounts}

  Log in as alice, then open a second window (or a private window) to log in
  as bob, and chat between the two. Write to echo@{DOMAIN} to get an answer
  straight away.

  XMPP server: Prosody for {DOMAIN}, c2s on 127.0.0.1:{prosody.c2s_port} (plaintext,
  loopback only; a native client on this machine can log in there too).
  {path}
  Data and logs: {run_dir}/ (reset on every start).

  Stop with Ctrl+C.
"""


def uvicorn_settings(settings: Settings) -> uvicorn.Config:
    """The backend's uvicorn config: exactly `roost serve`'s, quieter (log level warning)."""
    from backend.cli import uvicorn_config

    return uvicorn_config(settings, log_level="warning")


async def serve(prosody: ProsodyServer, opts: argparse.Namespace) -> None:
    """Echo bot + Roost backend until SIGINT/SIGTERM; both stopped on the way out."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    settings = demo_settings(prosody, opts.host, opts.port, opts.direct)
    server = _Server(uvicorn_settings(settings))
    bot = EchoBot(f"echo@{DOMAIN}", DEMO_USERS["echo"], "127.0.0.1", prosody.c2s_port)
    try:
        await bot.start()
    except BotError as exc:
        raise DemoError(f"the echo bot could not log in: {exc}; see {prosody.log_path}") from None
    try:
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if serving.done():
            serving.result()  # re-raises what stopped uvicorn
            raise DemoError(f"the web server stopped at start (port {opts.port})")
        print(banner(opts.port, prosody, opts.direct), flush=True)
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        print("\nroost demo: stopping ...", flush=True)
        server.should_exit = True
        await serving
    finally:
        await bot.stop()


def _interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `roost demo` (argv without the "demo" word); returns the exit code."""
    opts = parse_args(argv)
    # SIGTERM before the event loop runs: unwind like Ctrl+C so Prosody is stopped.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with exclusive(opts.run_dir):
            _check_port_free(opts.host, opts.port)
            if not opts.no_build:
                ensure_dist(force=opts.rebuild)
            prosody = start_prosody(opts.run_dir)
            try:
                asyncio.run(serve(prosody, opts))
            finally:
                # A second Ctrl+C must not leave Prosody running: ignore signals meanwhile.
                previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                prosody.stop()
                signal.signal(signal.SIGINT, previous_int)
    except DemoError as exc:
        print(f"roost demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nroost demo: interrupted", flush=True)
    except SystemExit as exc:  # uvicorn exits this way when it cannot start
        print("roost demo: the web server could not start", file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("roost demo: stopped.", flush=True)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
