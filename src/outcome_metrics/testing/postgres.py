"""A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a temp dir, trust auth.

    with TemporaryCluster() as params:
        load_events(params, simulate(events=20_000, days=40, seed=1).table())
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from outcome_metrics.engines.postgres import ConnectionParams, PostgresError

SERVER_BINARIES = ("initdb", "pg_ctl")
SEARCH_GLOB = "/usr/lib/postgresql/*/bin"
OS_USER = "postgres"  # initdb refuses to run as root


def find_bin_dir(path: str | None = None, search_glob: str = SEARCH_GLOB) -> Path | None:
    """The directory holding initdb and pg_ctl: from PATH first, else the newest /usr/lib/postgresql/*/bin."""
    initdb = shutil.which("initdb", path=path)
    if initdb and shutil.which("pg_ctl", path=path):
        return Path(os.path.realpath(initdb)).parent
    candidates = [Path(d) for d in glob.glob(search_glob) if all((Path(d) / b).is_file() for b in SERVER_BINARIES)]
    return max(candidates, key=lambda d: _version_key(d.parent.name), default=None)


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: Sequence[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the `postgres` OS user."""
    if os.geteuid() != 0:
        return list(command)
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        raise PostgresError(f"running as root needs an OS user '{OS_USER}' to run the server as "
                            "(the postgresql package creates it)") from None  # fmt: skip
    if shutil.which("runuser"):
        return ["runuser", "-u", OS_USER, "--", *command]
    return ["su", OS_USER, "-c", shlex.join(command)]


def _run(command: Sequence[str], cwd: Path) -> None:
    done = subprocess.run(_as_server_user(command), cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise PostgresError(f"`{shlex.join(command)}` failed with exit code {done.returncode}:\n{output}")


def _start(pg_ctl: Path, data: Path, root: Path, host: str, attempts: int = 3) -> int:
    """pg_ctl start -w on a free port; returns the port. Retries, as a probed port can be taken
    before the server binds it."""
    log = root / "server.log"
    failure = ""
    for _ in range(attempts):
        port = free_port(host)
        options = f"-c listen_addresses={host} -p {port} -c unix_socket_directories={root} -c fsync=off"
        try:
            _run([str(pg_ctl), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"], cwd=root)
            return port
        except PostgresError as error:
            failure = str(error)
    server_log = log.read_text(errors="replace") if log.is_file() else "(none)"
    raise PostgresError(f"{failure}\nserver log:\n{server_log}")


@contextmanager
def TemporaryCluster(bin_dir: Path | None = None, host: str = "127.0.0.1") -> Iterator[ConnectionParams]:
    """A throwaway PostgreSQL server: initdb into a new temp dir (owned by the server's OS user),
    trust auth, listening on `host` only, on a free port, its unix socket inside the temp dir;
    fsync off. Yields connection params; stops the server and removes the dir on exit. Touches no
    system configuration. Databases default to UTF8 and the C locale (bytewise text order)."""
    bin_dir = bin_dir or find_bin_dir()
    if bin_dir is None:
        raise PostgresError(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin "
            "(install them: apt-get install -y postgresql)"
        )
    root = Path(tempfile.mkdtemp(prefix="outcomes-pg-"))
    data = root / "data"
    port = None
    try:
        if os.geteuid() == 0:
            shutil.chown(root, OS_USER, OS_USER)
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", OS_USER, "-A", "trust", "-E", "UTF8",
              "--locale=C", "--no-sync"], cwd=root)  # fmt: skip
        port = _start(bin_dir / "pg_ctl", data, root, host)
        yield ConnectionParams(host=host, port=port, user=OS_USER, dbname="postgres")
    finally:
        try:
            if port is not None:
                _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], cwd=root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
