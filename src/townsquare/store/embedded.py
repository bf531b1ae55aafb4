"""The embedded PostgreSQL: the server Townsquare starts itself when no URL is configured.

We use only the PostgreSQL binaries that the ``pgserver`` package ships and manage the
server ourselves, because ``townsquare`` must guarantee what pgserver's shared,
reference-counted daemon does not:

* one owner: an exclusive ``flock`` on ``<data_dir>/townsquare.lock`` is held for as long as
  the server runs, so a second ``townsquare demo`` gets a clear error instead of sharing
  (or stopping) the first one's server; read-only commands can *attach* to the running one;
* no orphan: ``postgres`` runs as our child (not daemonised by ``pg_ctl``) with
  ``PR_SET_PDEATHSIG``, so even ``kill -9`` of Townsquare stops it; ``stop()`` asks for a
  fast shutdown and escalates if it is ignored;
* no half-made cluster: ``initdb`` writes to a scratch directory that is renamed into place
  only when complete, so a SIGTERM during the first start leaves nothing broken behind;
* no network exposure: the server listens on a Unix socket only, mode 0700.

When running as root (containers, CI) PostgreSQL refuses to start, so the server runs as a
system user ``townsquare-pg`` that is created on first use and given traversal rights to the
data directory's parents.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psycopg
import structlog
from sqlalchemy.engine import URL

from townsquare.errors import EmbeddedServerBusy, EmbeddedServerError

log = structlog.get_logger(__name__)

DATABASE_NAME = "townsquare"
SUPERUSER = "postgres"
SYSTEM_USER = "townsquare-pg"
_PR_SET_PDEATHSIG = 1
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin for ".s.PGSQL.5432"


def postgres_bin_dir() -> Path:
    """Where the ``pgserver`` package keeps its PostgreSQL binaries (found without importing it,
    because importing pgserver has side effects we do not want)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "The embedded PostgreSQL needs the 'pgserver' package, which is not installed. "
            "Install Townsquare with its dependencies, or set TOWNSQUARE_DATABASE_URL."
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedServerError(f"The pgserver package has no PostgreSQL binaries in {bin_dir}.")
    return bin_dir


@dataclass(frozen=True)
class RunningServer:
    """What the owner of a data directory publishes for other processes."""

    pid: int
    socket_dir: str
    url: str


class EmbeddedPostgres:
    """Owns one embedded PostgreSQL cluster for the lifetime of a ``with`` block."""

    def __init__(
        self, data_dir: Path, *, start_timeout: float = 60.0, durable: bool = True
    ) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.start_timeout = start_timeout
        # Tests trade crash safety for speed; a user's data is always fsync'd.
        self.durable = durable
        self.pgdata = self.data_dir / "pgdata"
        self.lock_path = self.data_dir / "townsquare.lock"
        self.log_path = self.data_dir / "postgres.log"
        self._lock_file: IO[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None
        self._run_as: str | None = None

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._socket_dir is None:
            raise EmbeddedServerError("The embedded PostgreSQL is not running.")
        return socket_url(self._socket_dir)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> str:
        """Initialise the cluster if needed, start the server, wait until it accepts
        connections and make sure the ``townsquare`` database exists. Returns its URL."""
        bin_dir = postgres_bin_dir()
        self._prepare_data_dir()
        self._acquire_lock()
        try:
            self._run_as = SYSTEM_USER if os.geteuid() == 0 else None
            if self._run_as:
                _ensure_system_user(self._run_as)
            self._stop_orphan()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(bin_dir)
            self._socket_dir = self._choose_socket_dir()
            self._spawn(bin_dir)
            self._wait_until_ready()
            self._ensure_database()
            self._publish()
        except BaseException:
            self.stop()
            raise
        log.info(
            "embedded_postgres_started",
            data_dir=str(self.data_dir),
            pid=self.pid,
            socket_dir=str(self._socket_dir),
        )
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; release the lock."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            for sig, wait in (
                (signal.SIGINT, timeout),
                (signal.SIGQUIT, 5.0),
                (signal.SIGKILL, 5.0),
            ):
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                try:
                    process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    log.warning("embedded_postgres_stop_escalated", signal=sig.name)
            log.info("embedded_postgres_stopped", data_dir=str(self.data_dir))
        self._socket_dir = None
        self._release_lock()

    # ----------------------------------------------------------------- attach

    @classmethod
    def running(cls, data_dir: Path) -> RunningServer | None:
        """The server another process owns in ``data_dir``, if one is running."""
        lock_path = data_dir.expanduser().resolve() / "townsquare.lock"
        try:
            with lock_path.open("r") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    content = fh.read()
                    try:
                        info = json.loads(content)
                        return RunningServer(
                            pid=int(info["pid"]), socket_dir=info["socket_dir"], url=info["url"]
                        )
                    except (ValueError, KeyError, TypeError):
                        return None  # the owner is still starting
                fcntl.flock(fh, fcntl.LOCK_UN)
        except FileNotFoundError:
            return None
        return None

    # ----------------------------------------------------------------- steps

    def _prepare_data_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise EmbeddedServerError(
                f"The embedded PostgreSQL data directory {self.data_dir} is not usable: "
                f"{exc.strerror or exc}. Set TOWNSQUARE_EMBEDDED_DATA_DIR to a writable "
                "directory, or TOWNSQUARE_DATABASE_URL to use an existing PostgreSQL."
            ) from None

    def _acquire_lock(self) -> None:
        fh = self.lock_path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip()
            fh.close()
            pid = ""
            with contextlib.suppress(ValueError, KeyError, TypeError):
                pid = f" (pid {json.loads(owner)['pid']})"
            raise EmbeddedServerBusy(
                f"The embedded PostgreSQL in {self.data_dir} is in use by another Townsquare "
                f"process{pid}. Stop that process, give this one its own "
                "TOWNSQUARE_EMBEDDED_DATA_DIR, or set TOWNSQUARE_DATABASE_URL."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.flush()
        self._lock_file = fh

    def _release_lock(self) -> None:
        fh, self._lock_file = self._lock_file, None
        if fh is not None:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def _publish(self) -> None:
        assert self._lock_file is not None
        assert self._socket_dir is not None
        info = {"pid": os.getpid(), "socket_dir": str(self._socket_dir), "url": self.url}
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(json.dumps(info))
        self._lock_file.flush()

    def _stop_orphan(self) -> None:
        """A server left behind by an owner that died (we hold the lock, so it is not in use)."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        if not _is_postgres_of(pid, self.pgdata):
            return
        log.warning("embedded_postgres_orphan_stopped", pid=pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _initdb(self, bin_dir: Path) -> None:
        scratch = self.data_dir / "pgdata.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        self._give_to_run_as(scratch)
        args = [
            str(bin_dir / "initdb"),
            "-D",
            str(scratch),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ]
        if not self.durable:
            args.append("--no-sync")
        log.info("embedded_postgres_initdb", data_dir=str(self.data_dir))
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            check=False,
            timeout=self.start_timeout,
            cwd=str(self.data_dir),
            **self._identity(),
        )
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise EmbeddedServerError(
                f"initdb failed for {self.pgdata}: {_last_lines(result.stderr or result.stdout)}"
            )
        if self.pgdata.exists():
            # An empty or half-made directory from an earlier failed start.
            shutil.rmtree(self.pgdata)
        scratch.rename(self.pgdata)

    def _choose_socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred)) <= _SOCKET_PATH_MAX - len("/.s.PGSQL.5432"):
            socket_dir = preferred
            socket_dir.mkdir(mode=0o700, exist_ok=True)
        else:
            socket_dir = Path(tempfile.mkdtemp(prefix="townsquare-pg-"))
        self._give_to_run_as(socket_dir)
        return socket_dir

    def _spawn(self, bin_dir: Path) -> None:
        assert self._socket_dir is not None
        args = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.pgdata),
            "-k",
            str(self._socket_dir),
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_permissions=0700",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        log_file = self.log_path.open("ab")
        if self._run_as:
            self._give_to_run_as(self.log_path)
        parent_pid = os.getpid()
        in_main_thread = threading.current_thread() is threading.main_thread()

        def _die_with_parent() -> None:  # runs in the child, after the uid switch
            # The kernel signals on the death of the *thread* that forked, so only the main
            # thread (which lives as long as the process) may ask for it.
            if in_main_thread:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
                if os.getppid() != parent_pid:
                    os.kill(os.getpid(), signal.SIGINT)
            os.setpgid(0, 0)  # a Ctrl-C in the terminal is ours to handle, not the server's

        try:
            self._process = subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(self.data_dir),
                **self._identity(),
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise EmbeddedServerError(f"Could not start PostgreSQL: {exc}") from None
        finally:
            log_file.close()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        assert self._socket_dir is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise EmbeddedServerError(
                    f"PostgreSQL exited with code {code} while starting. "
                    f"Its log ({self.log_path}) ends with: {self._log_tail()}"
                )
            try:
                with psycopg.connect(
                    host=str(self._socket_dir), user=SUPERUSER, dbname="postgres", connect_timeout=2
                ):
                    return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"PostgreSQL did not accept connections within {self.start_timeout:g} s. "
                    f"Its log ({self.log_path}) ends with: {self._log_tail()}"
                )
            time.sleep(0.05)

    def _ensure_database(self) -> None:
        assert self._socket_dir is not None
        with psycopg.connect(
            host=str(self._socket_dir), user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def _identity(self) -> dict[str, Any]:
        """Switch user, group *and* supplementary groups: keeping root's group would put the
        server in the group class of root-owned directories and deny it traversal."""
        if not self._run_as:
            return {}
        return {"user": self._run_as, "group": self._run_as, "extra_groups": []}

    def _give_to_run_as(self, path: Path) -> None:
        if not self._run_as:
            return
        shutil.chown(path, user=self._run_as, group=self._run_as)
        # The server user must be able to walk down to its directories.
        for parent in path.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)

    def _log_tail(self) -> str:
        try:
            return _last_lines(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no log)"


def socket_url(socket_dir: Path, database: str = DATABASE_NAME) -> str:
    """A libpq/SQLAlchemy URL that reaches a server by its Unix socket directory."""
    return URL.create(
        "postgresql", username=SUPERUSER, database=database, query={"host": str(socket_dir)}
    ).render_as_string(hide_password=False)


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(empty)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); check its state.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _is_postgres_of(pid: int, pgdata: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and cmdline[0].endswith(b"postgres") and str(pgdata).encode() in cmdline


def _ensure_system_user(name: str) -> None:
    import pwd

    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    try:
        subprocess.run(
            [
                shutil.which("useradd") or "/usr/sbin/useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail: Any = getattr(exc, "stderr", None) or exc
        raise EmbeddedServerError(
            f"PostgreSQL cannot run as root and the system user {name!r} could not be "
            f"created ({detail}). Run Townsquare as a normal user or set TOWNSQUARE_DATABASE_URL."
        ) from None
