"""A private PostgreSQL server for the tests: its own cluster in a temporary directory, on a free port.

It never uses a server that is already running (the one on 5432 may belong to someone else). PostgreSQL
refuses to run as root, so as root (CI) ``initdb`` and ``pg_ctl`` run as Debian's ``postgres`` user.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

SYSTEM_PORT = 5432  # the machine's own server, if any: never ours
# Characters that URL-encoding changes: the URL must carry the password intact for the server to accept it.
PASSWORD = "Pg/s3cr:t@archive%never-shown"


def postgres_bin() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``: on PATH, else Debian's newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path is not None and Path(on_path).with_name("pg_ctl").exists():
        return Path(on_path).resolve().parent
    installed = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").exists()]
    if not installed:
        pytest.fail("PostgreSQL (initdb, pg_ctl) is not installed: run scripts/test.sh, which installs it")
    return max(installed, key=lambda path: [int(n) for n in re.findall(r"\d+", path.parent.name)] or [0])


@dataclass
class PostgresServer:
    """A cluster of its own; tests may stop and start it again. Password auth over TCP (scram), on 127.0.0.1."""

    port: int
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mt5-pg-")))
    running: bool = False
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        assert self.port != SYSTEM_PORT, "the tests never use the machine's PostgreSQL port"
        self.bin = postgres_bin()

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        """As the ``postgres`` user when this process is root; fails the test with PostgreSQL's own words."""
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no PGPORT/PGHOST of the machine
        result = subprocess.run(
            [*as_user, *args], cwd=self.workdir, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            log = self.workdir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{Path(args[0]).name} failed ({result.returncode}): {result.stdout}{result.stderr}{tail}")

    def init(self) -> None:
        (self.workdir / "password").write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root needs the postgres user: run scripts/test.sh, which installs PostgreSQL")
            for path in (self.workdir, self.workdir / "password"):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", f"--pwfile={self.workdir / 'password'}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "--no-locale", "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Listens on 127.0.0.1 only, with its socket in the work directory (never /var/run/postgresql)."""
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.workdir / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
            self.running = False

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def create_database(self) -> str:
        """A new empty database, so each test migrates from nothing; its URL (with the password)."""
        name = f"archive_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=PASSWORD, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def started_server(port: int) -> PostgresServer:
    server = PostgresServer(port)
    try:
        server.init()
        server.start()
    except BaseException:
        server.remove()
        raise
    return server
