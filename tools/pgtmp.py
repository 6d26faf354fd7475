"""A PostgreSQL cluster of our own, for the tests and the demo.

The cluster lives in a directory we choose, listens only on 127.0.0.1 on a free
port (plus a unix socket inside its directory), and has one superuser role,
``odoo``, with trust authentication.  Throwaway clusters turn durability off
(fsync, full_page_writes, synchronous_commit) because nothing in them needs to
survive a crash.

PostgreSQL refuses to run as root, so when we are root the cluster is created
and run as the unprivileged ``postgres`` system user (``nobody`` as a fallback).

Run ``python3 tools/pgtmp.py`` to get a throwaway cluster until Ctrl-C.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DB_USER = "odoo"
SPEED_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
}


class PgError(RuntimeError):
    pass


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def find_pg_bindir():
    """The directory holding initdb and postgres: $PG_BINDIR, else the newest
    /usr/lib/postgresql/<version>/bin, else whatever is on PATH."""
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise PgError(
        "PostgreSQL server binaries (initdb, postgres) not found; install them "
        "(Debian: apt-get install postgresql) or set PG_BINDIR"
    )


def _run_as():
    """(uid, gid, name) of the user the server must run as, or None for us."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid, name
    raise PgError("running as root and there is no 'postgres' or 'nobody' user")


class PgCluster:
    """``with PgCluster(directory) as pg:`` starts it, the exit stops it.

    ``persistent=True`` keeps durability on and reuses an existing cluster in
    the directory; the directory itself is never removed by this class.
    """

    def __init__(self, directory, persistent=False, port=None):
        self.directory = Path(directory).resolve()
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "run"
        self.logfile = self.directory / "postgres.log"
        self.persistent = persistent
        self.wanted_port = port
        self.host = "127.0.0.1"
        self.user = DB_USER
        self.port = None
        self.proc = None
        self.bindir = find_pg_bindir()
        self.owner = _run_as()

    # -- helpers -------------------------------------------------------------
    def _popen_kwargs(self):
        kwargs = {"env": {**os.environ, "LC_ALL": "C", "LANG": "C"}}
        if self.owner:
            uid, gid, name = self.owner
            kwargs.update(user=uid, group=gid, extra_groups=[])
            kwargs["env"].update(HOME=str(self.directory), USER=name, LOGNAME=name)
        return kwargs

    def _chown(self, path):
        if self.owner:
            os.chown(path, self.owner[0], self.owner[1])

    def _prepare_dirs(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        self._chown(self.directory)
        self.socket_dir.mkdir(exist_ok=True)
        self._chown(self.socket_dir)
        if self.owner:
            uid, _gid, name = self.owner
            for parent in self.directory.parents:
                info = parent.stat()
                if info.st_uid != uid and not info.st_mode & 0o001:
                    raise PgError(
                        f"the '{name}' user that runs PostgreSQL cannot reach "
                        f"{self.directory}: {parent} is not traversable "
                        f"(chmod o+x {parent}, or pick a directory elsewhere)"
                    )

    def initdb(self):
        if (self.data / "PG_VERSION").is_file():
            return
        cmd = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ]
        if not self.persistent:
            cmd.append("--no-sync")
        result = subprocess.run(
            cmd,
            cwd=self.directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            **self._popen_kwargs(),
        )
        if result.returncode:
            raise PgError(f"initdb failed:\n{result.stdout}")

    def _server_cmd(self, port):
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "100",
        }
        if not self.persistent:
            settings.update(SPEED_SETTINGS)
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    def _wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            probe = subprocess.run(
                [
                    str(self.bindir / "pg_isready"),
                    "-q",
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    "-d",
                    "postgres",
                ],
                check=False,
            )
            if probe.returncode == 0:
                return True
            time.sleep(0.2)
        raise PgError(f"PostgreSQL did not become ready in {timeout}s, see {self.logfile}")

    # -- life cycle ----------------------------------------------------------
    def start(self, attempts=5):
        self._prepare_dirs()
        self.initdb()
        for _attempt in range(attempts):
            self.port = self.wanted_port or free_port()
            if self.wanted_port and not port_is_free(self.port):
                raise PgError(f"port {self.port} on 127.0.0.1 is already in use")
            with open(self.logfile, "ab") as log:
                self._chown(self.logfile)
                # Own session: a Ctrl-C on the terminal reaches us, not the
                # server, so we can stop things in the right order.
                self.proc = subprocess.Popen(
                    self._server_cmd(self.port),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **self._popen_kwargs(),
                )
            if self._wait_ready():
                return self
            self.proc.wait()
            if self.wanted_port:
                break
            # Most likely someone took the port between our probe and the bind.
        tail = self.logfile.read_text(errors="replace")[-2000:]
        raise PgError(f"PostgreSQL failed to start:\n{tail}")

    def stop(self, timeout=30):
        """Fast shutdown (SIGINT), then SIGQUIT, then SIGKILL."""
        if not self.proc or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
            try:
                self.proc.send_signal(sig)
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return

    def detach(self):
        """Forget the server so that stop() leaves it running (--keep)."""
        self.proc = None

    def psql_hint(self, dbname="postgres"):
        return f"psql -h {self.host} -p {self.port} -U {self.user} {dbname}"

    def stop_hint(self):
        pg_ctl = f"{self.bindir / 'pg_ctl'} -D {self.data} stop -m fast"
        if self.owner:
            pg_ctl = f"runuser -u {self.owner[2]} -- {pg_ctl}"
        return pg_ctl

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _raise_keyboard_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers():
    """Make SIGTERM and SIGHUP unwind the stack like Ctrl-C does, so every
    ``finally`` (stopping servers, removing temp dirs) runs.  SIGINT too, even
    when we inherited it ignored (a background job of a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_keyboard_interrupt)


def make_tempdir(prefix):
    """A fresh temp dir that the server user may traverse (not list)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


def main():
    install_signal_handlers()
    tmp = make_tempdir("pgtmp-")
    try:
        with PgCluster(tmp / "pg") as pg:
            print(f"PostgreSQL ready: {pg.psql_hint()}  (Ctrl-C stops and removes it)")
            sys.stdout.flush()
            while pg.proc.poll() is None:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
