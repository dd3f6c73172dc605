"""Server processes a test starts for itself: a PgBouncer in transaction mode in front of
the test database, and a PostgreSQL primary with a streaming replica. Each is skipped with
a clear message when its binaries are missing. As root, the servers run as the
``postgres`` system user (neither PostgreSQL nor PgBouncer runs as root)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bench.served import free_port

WAIT = 60.0


def _run_as(socket_dir: str | None = None) -> str | None:
    """The system user servers run as when this is root: the owner of the server's socket
    directory (the embedded server's), else ``postgres``; None: this user."""
    if os.geteuid() != 0:
        return None
    if socket_dir is not None:
        return pwd.getpwuid(Path(socket_dir).stat().st_uid).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root without a 'postgres' system user to run servers as")
    return "postgres"


@contextlib.contextmanager
def _folder(prefix: str, user: str | None) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}): {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")


@contextlib.contextmanager
def pgbouncer(database_url: str, *, pool_size: int = 4) -> Iterator[str]:
    """A PgBouncer in transaction mode in front of ``database_url``'s server, on a free
    port; yields the URL of the same database through it (trust authentication for the
    owner and the two roles, as the test server itself uses). ``pool_size`` server
    connections per (database, user): fewer than the engines' clients, so that server
    connections pass from client to client between transactions."""
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip("pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run does)")
    url = make_url(database_url)
    host = url.query.get("host") or url.host or "127.0.0.1"
    if isinstance(host, tuple):
        host = host[0]
    user = _run_as(host if host.startswith("/") else None)
    port = free_port()
    with _folder("closedloop-pgbouncer-", user) as folder:
        users = [url.username or "postgres", "closedloop_app", "closedloop_system"]
        (folder / "users.txt").write_text("".join(f'"{u}" ""\n' for u in users))
        log = folder / "pgbouncer.log"
        (folder / "pgbouncer.ini").write_text(
            f"""[databases]
{url.database} = host={host} port={url.port or 5432} dbname={url.database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
logfile = {log}
pidfile = {folder}/pgbouncer.pid
"""
        )
        process = subprocess.Popen(
            [binary, str(folder / "pgbouncer.ini")],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(port, process, log)
            through = url.set(host="127.0.0.1", port=port, query={})
            yield through.render_as_string(hide_password=False)
        finally:
            process.terminate()
            process.wait(WAIT)


SERVER_BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "postgres")


def server_binaries() -> Path | None:
    """A folder holding PostgreSQL's server binaries, all of one version: the system's
    (Debian's /usr/lib/postgresql/N/bin, newest first), else the embedded server's."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    spec = importlib.util.find_spec("pgserver")  # not imported: only its files are wanted
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin")
    for folder in candidates:
        if all((folder / name).is_file() for name in SERVER_BINARIES):
            return folder
    return None


@dataclass
class ReplicaPair:
    """A primary and a streaming replica of it (``pg_basebackup -R``), on free ports."""

    folder: Path
    binaries: Path
    user: str | None
    primary_port: int
    replica_port: int

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def primary_url(self, database: str = "postgres") -> str:
        return self.url(self.primary_port, database)

    def replica_url(self, database: str = "postgres") -> str:
        return self.url(self.replica_port, database)

    def run(self, *command: str) -> None:
        binary = str(self.binaries / command[0])
        done = subprocess.run(
            [binary, *command[1:]], user=self.user, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def start(self, name: str) -> None:
        self.run(
            "pg_ctl",
            "-D",
            str(self.folder / name),
            "-l",
            str(self.folder / f"{name}.log"),
            "-w",
            "-t",
            str(int(WAIT)),
            "start",
        )

    def stop(self, name: str) -> None:
        self.run("pg_ctl", "-D", str(self.folder / name), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def replica_pair() -> Iterator[ReplicaPair]:
    """A fresh primary (trust authentication on 127.0.0.1, WAL for one standby) and a hot
    standby streaming from it, both stopped and removed afterwards."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup, postgres of one "
            "version) in /usr/lib/postgresql/*/bin or the pgserver wheel"
        )
    user = _run_as()
    with _folder("closedloop-replica-", user) as folder:
        pair = ReplicaPair(folder, binaries, user, free_port(), free_port())
        primary = folder / "primary"
        pair.run(
            "initdb",
            "-D",
            str(primary),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = f"""
listen_addresses = '127.0.0.1'
unix_socket_directories = '{folder}'
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = off
full_page_writes = off
max_connections = 60
"""
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(settings + f"port = {pair.primary_port}\n")
        pair.start("primary")
        started = ["primary"]
        try:
            replica = folder / "replica"
            pair.run(
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(pair.primary_port),
                "-U",
                "postgres",
                "-D",
                str(replica),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            )
            with (replica / "postgresql.conf").open("a") as conf:
                conf.write(f"port = {pair.replica_port}\n")
            pair.start("replica")
            started.append("replica")
            yield pair
        finally:
            for name in reversed(started):
                with contextlib.suppress(RuntimeError):
                    pair.stop(name)
