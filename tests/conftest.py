"""Fixtures for gonogo's own tests: pytester, a real local HTTP target, env files.

The target is a real HTTP server on a loopback port (stdlib, in a thread),
not a mock: the clients under test open real sockets, time real responses
and meet real connection errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# pytester's in-process runs drop modules first imported during a run. httpx
# caches httpcore's exception classes on first use; if httpcore were dropped
# and re-imported, later runs would see unmapped httpcore errors. Import it
# here so it lives for the whole session, as it does in any real run.
# The same for cryptography: its classes must be the ones every test and run compares with.
import cryptography.hazmat.primitives.asymmetric.ec
import cryptography.hazmat.primitives.asymmetric.ed25519
import cryptography.hazmat.primitives.serialization  # noqa: F401
import httpcore  # noqa: F401
import pytest

# The same for the run's hooks, which the plugin's entry point imports only when a run asks
# for gonogo: their StashKeys must be the ones every later run's modules use.
import gonogo.plugin.hooks  # noqa: F401

pytest_plugins = ["pytester"]

PLANTED = "gonogo-planted-Secret-7f3a9c1e5b"

# The fast tier for developers: `pytest -n 2 tests -m "not stack"` runs every test that needs
# no local environment (real servers). A test that starts one says so with @pytest.mark.stack,
# or asks for the `stack` fixture, which marks it here.
STACK_MARKER = "stack: starts the local environment (real servers); -m 'not stack' leaves it out"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", STACK_MARKER)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("stack"):
            item.add_marker(pytest.mark.stack)


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project whose own folders are its packs (smoke/, slo/ ...), as `gonogo_packs = .`
    says: a gonogo run there collects them as it collects the installed packs."""
    pytester.makeini("[pytest]\ngonogo_packs = .\n")
    return pytester


@pytest.fixture(autouse=True, scope="session")
def _no_report_png() -> Iterator[None]:
    """Runs made by these tests skip report.png (a Chromium start each); the test of the
    picture turns it back on. A fixture, not an import-time setting: this conftest is
    also imported by release runs (`pytest -m smoke` collects tests/ before deselecting)."""
    previous = os.environ.get("GONOGO_REPORT_PNG")
    os.environ["GONOGO_REPORT_PNG"] = "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("GONOGO_REPORT_PNG", None)
        else:
            os.environ["GONOGO_REPORT_PNG"] = previous


GRAFANA_TOKEN = "glsa_gonogo-test-grafana-token-0001"
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)

# What the target received on POST /hooks/...: a war-room webhook's side of --announce.
POSTED: list[dict[str, Any]] = []


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    """One whole answer from a test server: bytes as they are, anything else as JSON."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    server_version = "gonogo-test-target"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/hooks/"):
            POSTED.append({"path": self.path, "json": json.loads(body)})
            self._send(200, {"ok": True})
        else:
            self._send(404, {"error": "not found"})

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        reply(self, status, body, content_type)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif self.path == "/api/ping":
            if not auth.startswith("Bearer "):
                self._send(401, {"error": "no token"})
            else:
                self._send(200, {"pong": True})
        elif self.path == "/api/whoami":
            # A careless server that echoes the credential back: redaction must catch it.
            self._send(200, {"authorization": auth, "echo": auth.removeprefix("Bearer ")})
        elif self.path.startswith("/render/d-solo/"):
            # Grafana's render API, as it answers: a PNG of one panel (nothing real runs here).
            if auth != f"Bearer {GRAFANA_TOKEN}":
                self._send(401, {"message": "Unauthorized"})
            else:
                self._send(200, PNG_1X1, "image/png")
        elif self.path == "/metrics":
            self._send(
                200,
                b"# TYPE stream_processed_total counter\nstream_processed_total 42\n",
                "text/plain; version=0.0.4",
            )
        else:
            self._send(404, {"error": "not found"})


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (cryptography), and its key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gonogo test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "ca.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Ok(BaseHTTPRequestHandler):
    """Every GET answered 200 {"ok": true}, on a kept-alive connection, as a gateway does."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        reply(self, 200, {"ok": True})

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def serving(
    handler: type[socketserver.BaseRequestHandler], tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """A loopback HTTP server answering with `handler` for the block (an HTTP handler, or a
    raw one that writes its answers' bytes itself); its base URL. With `tls` (certificate,
    key: self_signed), HTTPS."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls is not None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def target() -> Iterator[str]:
    with serving(_Handler) as url:
        yield url


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def running(pids: list[int]) -> list[int]:
    """Those of `pids` still running. A zombie has ended; a process may also end between
    being found and being read (psutil's pid_exists then Process raced on a busy runner)."""
    import psutil

    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return alive


def env_file(base_url: str, *, names: tuple[str, ...] = ("green",), extra: str = "") -> str:
    """An environments.toml with one table per name, all pointing at base_url."""
    out = []
    for name in names:
        out.append(
            f'[environments.{name}]\nbase_url = "{base_url}"\n'
            f'token_env = "GONOGO_{name.upper()}_TOKEN"\nproduction = false\ntimeout_s = 2\n'
        )
    return "\n".join(out) + extra


@pytest.fixture
def make_envs(pytester: pytest.Pytester, target: str) -> Any:
    def make(*names: str, base_url: str | None = None, extra: str = "") -> Path:
        path = pytester.path / "environments.toml"
        path.write_text(env_file(base_url or target, names=names or ("green",), extra=extra))
        return path

    return make


def refused_table(
    tmp_path: Path, table: str, body: str, *, base_url: str = "http://127.0.0.1:9"
) -> str:
    """An env file whose [environments.x.TABLE] holds `body` is refused in one line, naming
    the file; that line, for the test to say what it holds (the cause, the fix, no secret)."""
    from gonogo.config import load_env_file
    from gonogo.errors import EnvFileError

    path = tmp_path / "envs.toml"
    header = f"[environments.x.{table}]\n" if table else ""
    path.write_text(f'[environments.x]\nbase_url = "{base_url}"\n{header}{body}\n')
    with pytest.raises(EnvFileError) as caught:
        load_env_file(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


def bundles(root: Path) -> list[Path]:
    """Every sealed run folder under root/reports."""
    return sorted(p.parent for p in (root / "reports").glob("*/*/bundle.json"))


def only_bundle(root: Path) -> Path:
    found = bundles(root)
    assert len(found) == 1, f"expected one bundle under {root / 'reports'}, found {found}"
    return found[0]


def vectors(folder: str) -> Path:
    """A folder of ../shared/vectors (real test vectors from public projects), or a skip.

    They are read where they are, never copied into the repo; $GONOGO_VECTORS points
    elsewhere if the checkout is not beside them.
    """
    import os

    beside = Path(__file__).resolve().parents[2] / "shared" / "vectors"
    roots = [Path(os.environ["GONOGO_VECTORS"])] if os.environ.get("GONOGO_VECTORS") else []
    roots += [beside, Path("/work/shared/vectors")]  # a clean clone elsewhere on this machine
    for root in roots:
        if (root / folder).is_dir():
            return root / folder
    pytest.skip(f"test vectors not found at {beside / folder} (set GONOGO_VECTORS to their folder)")


def seed(name: str) -> Path:
    """A document of ../shared/seeds (the command center's pack and one-pager), or a skip."""
    beside = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    for root in (beside, Path("/work/shared/seeds")):
        if (root / name).is_file():
            return root / name
    pytest.skip(f"the seed {name} is not at {beside / name}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    """The local environment, one per test module that asks for it (stopped at its end)."""
    from gonogo.sandbox.stack import Stack
    from tests.packs import machine

    with machine():
        s = Stack()
        s.start()
        try:
            yield s
        finally:
            s.stop()
