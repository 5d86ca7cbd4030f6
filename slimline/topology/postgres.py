"""The topology's PostgreSQL: a cluster of its own from the Debian binaries (initdb, pg_ctl).

It listens on 127.0.0.1 only, with no Unix socket, and password authentication for TCP
(the password is generated once and kept in a 0600 file beside the data folder). Run as
root, the server runs as the `postgres` user, which must be able to reach the data folder.
Databases: one each for the raw store, the work store, Prefect and MLflow.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from slimline.topology.process import StartError

USER = "slimline"
DATABASES = ("slimline_raw", "slimline_work", "prefect", "mlflow")


def pg_bin(name: str) -> str | None:
    """The PostgreSQL program `name`: on PATH, else the newest Debian install."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class Postgres:
    """One PostgreSQL cluster under `root` (root/data, root/password, root/postgres.log)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.password_file = root / "password"
        self._as_root = os.geteuid() == 0

    # --- state ---------------------------------------------------------------------------
    @property
    def password(self) -> str:
        return self.ensure_password()

    def ensure_password(self) -> str:
        """The password of the `slimline` user, made (0600) the first time it is asked for."""
        if not self.password_file.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_hex(16) + "\n")
        return self.password_file.read_text().strip()

    def url(self, database: str, driver: str = "psycopg") -> str:
        """A SQLAlchemy URL of `database`, e.g. driver psycopg or asyncpg."""
        return f"postgresql+{driver}://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def pid(self) -> int | None:
        """The postmaster's pid when the server runs."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def running_port(self) -> int | None:
        """The port of the running server (from postmaster.pid), else None."""
        if self.pid() is None:
            return None
        lines = (self.data / "postmaster.pid").read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 else None

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Create the cluster on first use, start it, and create the databases."""
        initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise StartError(
                "PostgreSQL's initdb and pg_ctl are not installed "
                "(Debian: apt-get install postgresql)"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            self._check_reachable()
        if not (self.data / "PG_VERSION").exists():
            self._initdb(initdb)
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c max_connections=200"
        )
        result = self._run(
            [
                pg_ctl,
                "-D",
                str(self.data),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log),
                "start",
            ]
        )
        if result.returncode != 0:
            raise StartError(
                f"PostgreSQL did not start ({result.stdout.strip()[-300:]}); "
                f"see its log: {self.log}"
            )
        self._create_databases()

    def stop(self) -> bool:
        """Fast shutdown; True when it is stopped."""
        pg_ctl = pg_bin("pg_ctl")
        if self.pid() is None or pg_ctl is None:
            return True
        self._run([pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"])
        return self.pid() is None

    def _initdb(self, initdb: str) -> None:
        if self.data.exists():
            shutil.rmtree(self.data)  # a half-made cluster from an interrupted first start
        self.ensure_password()
        if self._as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.password_file, "postgres")
        cmd = [
            initdb,
            "-D",
            str(self.data),
            "-U",
            USER,
            "-E",
            "UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={self.password_file}",
        ]
        result = self._run(cmd)
        if result.returncode != 0:
            raise StartError(f"initdb failed: {result.stdout.strip()[-500:]}")

    def _create_databases(self) -> None:
        import psycopg

        dsn = self.url("postgres").replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            have = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
            for name in DATABASES:
                if name not in have:
                    conn.execute(f'CREATE DATABASE "{name}"')

    def _check_reachable(self) -> None:
        """As root the server runs as `postgres`: every folder above the data must let it in."""
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(self.root.parent)],
            capture_output=True,
        )
        if probe.returncode != 0:
            raise StartError(
                f"PostgreSQL runs as the 'postgres' user when slimline runs as root, and that "
                f"user cannot enter {self.root.parent}: make its folders traversable "
                f"(chmod o+x on each) or use a --home outside private folders"
            )

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_root else []
        return subprocess.run(
            [*prefix, *cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
