"""A real PostgreSQL server for the register's tests and benchmark, started by the run itself.

:class:`PostgresServer` makes a throw-away cluster with the system's PostgreSQL (``initdb`` into
a temporary folder), listening only on a Unix socket in that folder, and removes it all when
stopped. PostgreSQL refuses to run as root, so when the run is root the cluster belongs to an
unprivileged user (``nobody``) and its programs run as that user.

The session fixture ``postgres`` starts one server for the whole run; ``postgres_url`` gives
each test a database of its own on it. Import both into a test module::

    from tests.postgres import postgres_database, postgres_session  # noqa: F401  (fixtures)
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import psycopg
import pytest

from docgen.files import process_start

__all__ = ["PostgresServer", "pg_bindir", "postgres_database", "postgres_session"]

_UNPRIVILEGED = "nobody"


def pg_bindir() -> Path:
    """The folder of the system's PostgreSQL server programs (``initdb``, ``pg_ctl``)."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(found.stdout.strip())
    # Debian's pg_config may come from libpq-dev and name a folder without the server
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    raise RuntimeError("PostgreSQL's server programs are not installed (Debian: postgresql)")


class PostgresServer:
    """A private PostgreSQL cluster on a Unix socket; a context manager that starts and removes it.

    ``durable`` keeps PostgreSQL's fsync on (as a benchmark should measure); tests turn it off
    for speed, which loses nothing they check.
    """

    def __init__(self, *, durable: bool = False, user: str = "docgen"):
        self.bindir = pg_bindir()
        self.durable = durable
        self.user = user
        _remove_orphans(self.bindir)
        # named after the process that owns it, so that a later run can tell it was left behind
        pid = os.getpid()
        self.folder = Path(tempfile.mkdtemp(prefix=f"docgen-pg-{pid}-{process_start(pid)}-"))
        self.data = self.folder / "data"
        self.port = 5432  # only names the socket file: nothing listens on TCP
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam(_UNPRIVILEGED)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._run_as = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}"]
            self._run_as += ["--clear-groups", "--"]

    def url(self, database: str = "postgres") -> str:
        """The libpq address of ``database`` on this server (no password: trust on the socket)."""
        return f"postgresql://{self.user}@/{database}?host={self.folder}&port={self.port}"

    def _pg(self, program: str, *args: str, timeout: float = 60) -> None:
        command = [*self._run_as, str(self.bindir / program), *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.folder
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stderr.strip() or result.stdout}")

    def start(self) -> PostgresServer:
        """Make the cluster (first time only) and start the server; returns once it answers."""
        if not self.data.exists():
            self._pg(
                "initdb", "-D", str(self.data), "-U", self.user, "--auth=trust",
                "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions", "--no-sync",
            )  # fmt: skip
        fsync = "on" if self.durable else "off"
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.folder}' "
            f"-c port={self.port} -c fsync={fsync} -c full_page_writes={fsync} "
            "-c max_connections=60 -c shared_buffers=32MB"
        )
        log = str(self.folder / "server.log")
        self._pg(
            "pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "60", "start"
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: end every session at once), keeping the cluster."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        """Stop and start the server: every open session is ended."""
        self.stop()
        self.start()

    def create_database(self, name: str | None = None) -> str:
        """A new empty database on this server; its address."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        """Stop the server if it runs and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.remove()


def _remove_orphans(bindir: Path) -> None:
    """Stop and remove the servers of test runs that were killed before they could."""
    for folder in Path(tempfile.gettempdir()).glob("docgen-pg-*-*-*"):
        _, _, pid, started, _ = folder.name.split("-", 4)
        if pid.isdigit() and process_start(int(pid)) == started:
            continue  # its run is still going
        if (folder / "data" / "postmaster.pid").exists():
            owner = folder.stat()
            run_as = []
            if os.geteuid() == 0 and owner.st_uid != 0:
                run_as = ["setpriv", f"--reuid={owner.st_uid}", f"--regid={owner.st_gid}"]
                run_as += ["--clear-groups", "--"]
            stop = [*run_as, str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate"]
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run([*stop, "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", name="postgres")
def postgres_session() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test run, removed at its end."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(name="postgres_url")
def postgres_database(postgres: PostgresServer) -> str:
    """A fresh database of the run's server, for one test."""
    return postgres.create_database()
