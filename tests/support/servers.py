"""Throw-away PostgreSQL and Redis servers for the test suite.

The tests never use a server that happens to be running on the machine: they
start their own from the installed binaries, on 127.0.0.1 and a free port, and
stop it afterwards.

    pg = start_postgres(tmp_dir)      # pg.url -> postgresql+psycopg://...
    rs = start_redis(tmp_dir)         # rs.url -> redis://127.0.0.1:PORT/0
    ...
    rs.stop(); pg.stop()

Missing binaries raise :class:`ServerUnavailable`; pass its message to
:func:`unavailable`, which fails the test under CI (``CI=true``) and skips it
elsewhere.  A server that is installed but will not start raises
:class:`ServerStartError` (always a failure: something is really wrong).

Every started server is also registered for an ``atexit`` stop and asks the
kernel to signal it when the test process dies, so an interrupted run does not
leave servers behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerStartError",
    "ServerUnavailable",
    "find_pg_bin",
    "find_redis_server",
    "start_postgres",
    "start_redis",
    "unavailable",
]

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
PG_DATABASE = "portal_test"
PG_SUPERUSER = "postgres"
# A unix socket path may hold at most 107 bytes (sun_path), ".s.PGSQL.NNNNN" included.
_MAX_SOCKET_DIR_LEN = 80


class ServerUnavailable(Exception):
    """The server's binaries are not installed (or cannot be run here)."""


class ServerStartError(RuntimeError):
    """The server is installed but did not start; the message ends with its log."""


def unavailable(reason: str):
    """Fail (under CI=true) or skip (elsewhere) the current test because a server is missing."""
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a missing server is a failure)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- helpers

_live: set[_Server] = set()
_live_lock = threading.Lock()


def _stop_all() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_stop_all)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent(sig: int):
    """preexec_fn: have the kernel send `sig` to the child when the test process dies."""

    def _set() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:
            pass

    return _set if os.uname().sysname == "Linux" else None


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:] or "(empty log)"


def _terminate(proc: subprocess.Popen, sig: int, timeout: float = STOP_TIMEOUT) -> None:
    """Send `sig`, wait, then SIGKILL the whole process group if it is still there."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # The server was started in its own session: sweep any child it left behind.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)


class _Server:
    proc: subprocess.Popen | None = None

    def _register(self) -> None:
        with _live_lock:
            _live.add(self)

    def _unregister(self) -> None:
        with _live_lock:
            _live.discard(self)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# --------------------------------------------------------------------------- PostgreSQL


def find_pg_bin() -> Path:
    """Directory holding initdb and postgres: $PG_BIN, Debian's 15, the newest Debian one, PATH."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    candidates.append(Path("/usr/lib/postgresql/15/bin"))

    def version(p: str) -> tuple[int, ...]:
        m = re.search(r"/postgresql/([\d.]+)/bin", p)
        return tuple(int(x) for x in m.group(1).split(".") if x) if m else (0,)

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file() and os.access(d / "postgres", os.X_OK):
            return d
    raise ServerUnavailable(
        "PostgreSQL binaries (initdb, postgres) not found: set PG_BIN or install postgresql-15 "
        "(scripts/install-system-deps.sh)"
    )


def _run_as_user() -> pwd.struct_passwd | None:
    """The unprivileged account PostgreSQL runs as when we are root (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in filter(None, [os.environ.get("PG_RUN_AS"), "postgres", "nobody"]):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerUnavailable(
        "running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as"
    )


def _user_can_enter(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` can traverse every ancestor of `path` and write to `path` (checked by mode bits)."""
    import grp

    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    path = path.resolve()
    for i, p in enumerate([path, *path.parents]):
        st = p.stat()
        need_w = i == 0
        if st.st_uid == user.pw_uid:
            bits = (st.st_mode >> 6) & 7
        elif st.st_gid in groups:
            bits = (st.st_mode >> 3) & 7
        else:
            bits = st.st_mode & 7
        if not bits & 1 or (need_w and not bits & 2):
            return False
    return True


_PRIVATE_PREFIX = "portal-pg-"


def _sweep_stale_private_roots(max_age: float = 3600.0) -> None:
    """Remove private cluster dirs left by a test run that was killed (no live postmaster, old)."""
    now = time.time()
    for d in Path(tempfile.gettempdir()).glob(_PRIVATE_PREFIX + "*"):
        try:
            if now - d.stat().st_mtime < max_age:
                continue
            pid_file = d / "data" / "postmaster.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                if Path(f"/proc/{pid}").exists():
                    continue
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError, IndexError):
            continue


class PostgresServer(_Server):
    """A running throw-away PostgreSQL cluster (superuser `postgres`, trust auth, loopback only)."""

    def __init__(
        self,
        *,
        proc: subprocess.Popen,
        port: int,
        root: Path,
        socket_dir: Path,
        log_path: Path,
        pg_bin: Path,
        private_root: bool,
        database: str,
        startup_seconds: float,
    ):
        self.proc = proc
        self.host = "127.0.0.1"
        self.port = port
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = socket_dir
        self.log_path = log_path
        self.pg_bin = pg_bin
        self.database = database
        self.startup_seconds = startup_seconds
        self._private_root = private_root
        self._register()

    # SQLAlchemy URLs
    @property
    def url(self) -> str:
        return self.url_for(self.database)

    @property
    def admin_url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{PG_SUPERUSER}@{self.host}:{self.port}/{database}"

    # libpq / psycopg conninfo strings
    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    @property
    def admin_dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{PG_SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (optionally from `template`); return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(query)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL after STOP_TIMEOUT; then remove the data directory."""
        if self.proc is not None:
            _terminate(self.proc, signal.SIGINT)
        self._unregister()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self._private_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PostgresServer {self.host}:{self.port} pid={self.pid} {state}>"


def start_postgres(base_dir: Path | str, database: str = PG_DATABASE) -> PostgresServer:
    """initdb a fresh cluster and start it on 127.0.0.1:<free port>; create `database` in it.

    When run as root, PostgreSQL runs as the `postgres` user (or $PG_RUN_AS, or `nobody`).
    If that user cannot reach `base_dir` (pytest's temp dirs are 0700 root), the cluster
    lives in a private temp dir instead; the log is always written to base_dir/postgres.log.
    """
    t0 = time.monotonic()
    base_dir = Path(base_dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    pg_bin = find_pg_bin()
    user = _run_as_user()

    root = base_dir / "pg"
    private_root = False
    unreachable = user is not None and not _user_can_enter(base_dir, user)
    if unreachable or len(str(root / "s")) > _MAX_SOCKET_DIR_LEN:
        _sweep_stale_private_roots()
        root = Path(tempfile.mkdtemp(prefix=_PRIVATE_PREFIX))
        private_root = True
    else:
        root.mkdir(exist_ok=True)
    socket_dir = root / "s"
    data_dir = root / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    socket_dir.mkdir(exist_ok=True)

    popen_user: dict = {}
    if user is not None:
        for p in (root, socket_dir):
            os.chown(p, user.pw_uid, user.pw_gid)
        popen_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C", TZ="UTC")
    if user is not None:
        env.update(HOME=str(root), USER=user.pw_name, LOGNAME=user.pw_name)

    log_path = base_dir / "postgres.log"
    try:
        with open(log_path, "wb") as log:
            init = subprocess.run(
                [
                    str(pg_bin / "initdb"),
                    "-D", str(data_dir),
                    "-U", PG_SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=root,
                timeout=STARTUP_TIMEOUT * 2,
                **popen_user,
            )  # fmt: skip
    except OSError as exc:  # e.g. binary not executable, cannot switch user
        raise ServerUnavailable(f"cannot run initdb: {exc}") from exc
    if init.returncode != 0:
        raise ServerStartError(f"initdb failed (exit {init.returncode}):\n{_tail(log_path)}")

    last_error = ""
    for _attempt in range(3):  # a free port can be taken between probing and binding: retry
        port = _free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
            "timezone": "UTC",
        }
        args = [str(pg_bin / "postgres"), "-D", str(data_dir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=root,
                start_new_session=True,
                preexec_fn=_die_with_parent(signal.SIGQUIT),  # SIGQUIT = immediate shutdown
                **popen_user,
            )
        try:
            _wait_for_postgres(proc, port, log_path)
        except _PortTaken as exc:
            last_error = str(exc)
            _terminate(proc, signal.SIGQUIT)
            continue
        except BaseException:
            _terminate(proc, signal.SIGQUIT)
            raise
        server = PostgresServer(
            proc=proc,
            port=port,
            root=root,
            socket_dir=socket_dir,
            log_path=log_path,
            pg_bin=pg_bin,
            private_root=private_root,
            database=database,
            startup_seconds=0.0,
        )
        try:
            server.create_database(database)
        except BaseException:
            server.stop()
            raise
        server.startup_seconds = time.monotonic() - t0
        return server
    raise ServerStartError(f"PostgreSQL could not bind a free port:\n{last_error}")


class _PortTaken(Exception):
    pass


def _wait_for_postgres(proc: subprocess.Popen, port: int, log_path: Path) -> None:
    import psycopg

    deadline = time.monotonic() + STARTUP_TIMEOUT
    dsn = f"host=127.0.0.1 port={port} user={PG_SUPERUSER} dbname=postgres connect_timeout=2"
    while True:
        if proc.poll() is not None:
            log = _tail(log_path)
            if "could not bind" in log or "Address already in use" in log:
                raise _PortTaken(log)
            raise ServerStartError(f"PostgreSQL exited with code {proc.returncode}:\n{log}")
        try:
            with psycopg.connect(dsn) as conn:
                conn.execute("select 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"PostgreSQL not ready after {STARTUP_TIMEOUT:.0f}s ({exc}):\n{_tail(log_path)}"
                ) from exc
        time.sleep(0.05)


# --------------------------------------------------------------------------- Redis


def find_redis_server() -> Path:
    """$REDIS_SERVER, redis-server on PATH, or Debian's /usr/bin/redis-server."""
    candidates = [os.environ.get("REDIS_SERVER"), shutil.which("redis-server"), "/usr/bin/redis-server"]
    for c in filter(None, candidates):
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return Path(c)
    raise ServerUnavailable(
        "redis-server not found: set REDIS_SERVER or install redis-server (scripts/install-system-deps.sh)"
    )


class RedisServer(_Server):
    """A running throw-away Redis (no persistence, loopback only)."""

    def __init__(self, *, proc: subprocess.Popen, port: int, log_path: Path, startup_seconds: float):
        self.proc = proc
        self.host = "127.0.0.1"
        self.port = port
        self.log_path = log_path
        self.startup_seconds = startup_seconds
        self._register()

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def stop(self) -> None:
        """SIGTERM (nothing to save), SIGKILL after STOP_TIMEOUT."""
        if self.proc is not None:
            _terminate(self.proc, signal.SIGTERM)
        self._unregister()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.host}:{self.port} pid={self.pid} {state}>"


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(base_dir: Path | str) -> RedisServer:
    """Start redis-server on 127.0.0.1:<free port> with no persistence; wait until it answers PING."""
    t0 = time.monotonic()
    base_dir = Path(base_dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    binary = find_redis_server()
    log_path = base_dir / "redis.log"
    last_log = ""
    for _attempt in range(3):
        port = _free_port()
        args = [
            str(binary),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(base_dir),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", "",
        ]  # fmt: skip
        try:
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    args,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=base_dir,
                    start_new_session=True,
                    preexec_fn=_die_with_parent(signal.SIGTERM),
                )
        except OSError as exc:
            raise ServerUnavailable(f"cannot run {binary}: {exc}") from exc
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                last_log = _tail(log_path)
                break
            if _redis_ping(port):
                return RedisServer(
                    proc=proc, port=port, log_path=log_path, startup_seconds=time.monotonic() - t0
                )
            if time.monotonic() > deadline:
                _terminate(proc, signal.SIGKILL)
                raise ServerStartError(
                    f"redis-server not ready after {STARTUP_TIMEOUT:.0f}s:\n{_tail(log_path)}"
                )
            time.sleep(0.02)
        if "Address already in use" not in last_log:
            raise ServerStartError(f"redis-server exited with code {proc.returncode}:\n{last_log}")
    raise ServerStartError(f"redis-server could not bind a free port:\n{last_log}")
