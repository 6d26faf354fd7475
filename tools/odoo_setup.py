"""Find or build the Odoo 18 that ./run-tests and ./run-demo use.

Where Odoo comes from, in this order (the first that applies wins):

1. ``ODOO_SRC``: an Odoo 18 source folder or source archive (``.tar.xz`` /
   ``.tar.gz``); when set, nothing else is tried.
2. The project's own virtual environment ``.venv/``, when it is built for the
   source below (or, with no source on disk, for whatever it was built for).
3. The workspace's archive ``../shared/odoo/odoo-18.0-*.tar.xz``.
4. An Odoo 18 that this ``python3`` can already import (an existing install).
5. The official 18.0 source archive, downloaded.

A source (1, 3, 5) is installed once into ``.venv/``: Odoo's requirements, the
source itself (``pip install -e``) and the project's test and lint tools
(``tools/requirements-dev.txt``). ``.venv/kleer-stamp.json`` records what it was
built from (the archive's sha256, the requirement files, the Python version); a
later run whose stamp matches reuses it without touching the network.

System packages (Debian, when running as root): PostgreSQL's server when
``initdb`` is missing, ``wkhtmltopdf`` so invoices carry their real PDF, and
``chromium`` for the browser tour.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

from odoo_env import REPO, Odoo

VENV = REPO / ".venv"
STAMP = VENV / "kleer-stamp.json"
SRC_DIR = VENV / "odoo-src"  # an archive is unpacked here
SHARED_GLOB = "odoo-18.0-*.tar.xz"
SHARED_DIRS = (REPO.parent / "shared" / "odoo", REPO / ".." / ".." / "shared" / "odoo")
DEV_REQUIREMENTS = REPO / "tools" / "requirements-dev.txt"
DOWNLOAD_URL = "https://nightly.odoo.com/18.0/nightly/src/odoo_18.0.latest.tar.gz"
DOWNLOAD_TO = REPO / ".tmp" / "odoo_18.0.latest.tar.gz"
# A requirement of Odoo's that we leave out, and why:
#   python-ldap builds against libldap headers and serves only auth_ldap.
SKIPPED_REQUIREMENTS = ("python-ldap",)
# Wheels instead of a build from source: psycopg2 needs libpq headers and a
# compiler; psycopg2-binary is the same module, pinned to Odoo's version.
SUBSTITUTES = {"psycopg2": "psycopg2-binary"}
# Building cbor2 (no wheel for every Python) breaks with setuptools >= 81.
BUILD_CONSTRAINTS = "setuptools<81\n"

HELP = f"""\
No Odoo 18 found. Provide one of these:
  - ODOO_SRC=/path/to/odoo-18.0-source-folder-or-archive (.tar.xz / .tar.gz)
  - the workspace's archive ../shared/odoo/{SHARED_GLOB} beside this repository
  - an Odoo 18 that 'python3 -c "import odoo"' can import
  - network access to {DOWNLOAD_URL}"""


class SetupError(RuntimeError):
    """Set-up cannot go on; the text says what to provide."""


def say(text):
    print(f"[setup] {text}", flush=True)


# -- sources -------------------------------------------------------------------


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Source:
    """An Odoo source: a folder, or an archive to unpack into ``.venv/``."""

    def __init__(self, path):
        self.path = Path(path).resolve()
        self.is_archive = self.path.is_file()

    def identity(self):
        if self.is_archive:
            return f"archive sha256 {sha256_of(self.path)}"
        requirements = self.path / "requirements.txt"
        if not requirements.is_file():
            raise SetupError(f"{self.path} is no Odoo source folder (no requirements.txt)")
        return f"folder {self.path}"

    def __str__(self):
        return str(self.path)


def shared_archive():
    for folder in SHARED_DIRS:
        found = sorted(folder.resolve().glob(SHARED_GLOB)) if folder.exists() else []
        if found:
            return found[-1]
    return None


def dev_requirements_text():
    return DEV_REQUIREMENTS.read_text() if DEV_REQUIREMENTS.is_file() else ""


def wanted_stamp(source):
    return {
        "source": source.identity(),
        "python": ".".join(map(str, sys.version_info[:3])),
        "requirements-dev": hashlib.sha256(dev_requirements_text().encode()).hexdigest(),
        # Odoo's own requirements.txt is part of the source (its sha above).
    }


def read_stamp():
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return None


def venv_python():
    return VENV / "bin" / "python"


def venv_odoo(origin):
    if not venv_python().exists():
        return None
    return Odoo.probe(venv_python(), origin)


# -- building .venv ------------------------------------------------------------


def run(cmd, **kwargs):
    """Run a set-up step, its output shown as it comes (that is the progress)."""
    shown = " ".join(str(part) for part in cmd)
    say(f"$ {shown}")
    result = subprocess.run([str(part) for part in cmd], check=False, **kwargs)
    if result.returncode:
        raise SetupError(f"set-up step failed (exit {result.returncode}): {shown}")


def unpack(archive, target):
    say(f"unpacking {archive.name} into {target.relative_to(REPO)}")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    # Official archives hold one top folder; the workspace's has none.
    if not (target / "setup.py").exists():
        tops = [p for p in target.iterdir() if (p / "setup.py").exists()]
        if len(tops) != 1:
            raise SetupError(f"{archive}: no Odoo source (setup.py) inside")
        return tops[0]
    return target


def odoo_requirements(source_dir, into):
    """Odoo's requirements.txt less what we skip, with wheel substitutes."""
    lines = []
    for line in (source_dir / "requirements.txt").read_text().splitlines():
        name = line.split(";")[0].split("==")[0].split("#")[0].strip().lower()
        if name in SKIPPED_REQUIREMENTS:
            continue
        if name in SUBSTITUTES:
            line = SUBSTITUTES[name] + line[len(name) :]
        lines.append(line)
    into.write_text("\n".join(lines) + "\n")
    return into


def ensure_venv_module():
    """Debian's python3 creates venvs only with python3-venv installed."""
    probe = subprocess.run(
        [sys.executable, "-c", "import ensurepip, venv"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return
    minor = f"python3.{sys.version_info.minor}-venv"
    if apt_install([minor]):
        return
    raise SetupError(f"python3 cannot create a virtual environment: install {minor}")


def build_venv(source, stamp):
    started = time.monotonic()
    say(f"building .venv/ for Odoo from {source} (several minutes, once)")
    ensure_venv_module()
    shutil.rmtree(VENV, ignore_errors=True)
    # The base interpreter: this may be .venv/'s own python, about to be removed.
    run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", VENV])
    source_dir = unpack(source.path, SRC_DIR) if source.is_archive else source.path
    constraints = VENV / "build-constraints.txt"
    constraints.write_text(BUILD_CONSTRAINTS)
    env = {
        **os.environ,
        # pip hands PIP_CONSTRAINT on to the isolated build environments too.
        "PIP_CONSTRAINT": str(constraints),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
    }
    pip = [venv_python(), "-m", "pip", "install", "--progress-bar", "off"]
    requirements = odoo_requirements(source_dir, VENV / "odoo-requirements.txt")
    run([*pip, "-r", requirements], env=env)
    # Odoo's setup.py names psycopg2 (a source build): its requirements are in already.
    run([*pip, "--no-deps", "-e", source_dir], env=env)
    if DEV_REQUIREMENTS.is_file():
        run([*pip, "-r", DEV_REQUIREMENTS], env=env)
    odoo = venv_odoo(f".venv/ (Odoo from {source})")
    if not odoo:
        raise SetupError(f".venv/ was built but cannot import odoo (source {source})")
    STAMP.write_text(json.dumps(stamp, indent=1) + "\n")
    say(f".venv/ ready in {time.monotonic() - started:.0f}s: Odoo {odoo.version}")
    return odoo


def odoo_from_source(source):
    stamp = wanted_stamp(source)
    if read_stamp() == stamp:
        odoo = venv_odoo(f".venv/ (built from {source})")
        if odoo:
            return odoo
        say(".venv/ is damaged: rebuilding it")
    elif VENV.exists():
        say(".venv/ was built from another source or tool list: rebuilding it")
    return build_venv(source, stamp)


def download_official():
    say(f"downloading {DOWNLOAD_URL}")
    DOWNLOAD_TO.parent.mkdir(exist_ok=True)
    partial = DOWNLOAD_TO.with_suffix(".part")
    try:
        with (
            urllib.request.urlopen(DOWNLOAD_URL, timeout=30) as response,
            open(partial, "wb") as out,
        ):
            shutil.copyfileobj(response, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        say(f"download failed: {exc}")
        return None
    partial.rename(DOWNLOAD_TO)
    return DOWNLOAD_TO


def find_odoo():
    """The Odoo to use (building .venv/ if needed), or SetupError with HELP."""
    explicit = os.environ.get("ODOO_SRC")
    if explicit:
        if not Path(explicit).exists():
            raise SetupError(f"ODOO_SRC={explicit} does not exist.\n{HELP}")
        return odoo_from_source(Source(explicit))
    archive = shared_archive()
    stamp = read_stamp()
    if stamp and not archive:
        odoo = venv_odoo(".venv/")
        if odoo:
            return odoo
    if archive:
        return odoo_from_source(Source(archive))
    existing = Odoo.probe(sys.executable, f"the Odoo that {sys.executable} imports")
    if existing:
        return existing
    if DOWNLOAD_TO.exists() or download_official():
        return odoo_from_source(Source(DOWNLOAD_TO))
    raise SetupError(HELP)


# -- system packages -----------------------------------------------------------

_apt_updated = False


def apt_install(packages):
    """Install Debian packages when we are root with apt-get; True on success."""
    global _apt_updated  # noqa: PLW0603 - one 'apt-get update' per run
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        say("apt-get update")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        _apt_updated = True
    say(f"apt-get install {' '.join(packages)}")
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return result.returncode == 0


def have_postgres():
    if os.environ.get("PG_BINDIR") or shutil.which("initdb"):
        return True
    return any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def ensure_postgres():
    if have_postgres():
        return
    if not apt_install(["postgresql"]) or not have_postgres():
        raise SetupError(
            "PostgreSQL's server (initdb, postgres) is missing: install it "
            "(Debian: apt-get install postgresql) or set PG_BINDIR"
        )


def ensure_tool(command, package, why):
    """A Debian package for a command; a note (not a failure) when it cannot be had."""
    if shutil.which(command):
        return True
    if apt_install([package]) and shutil.which(command):
        return True
    say(f"note: {command} is missing ({why}); install Debian's {package}")
    return False


def ensure_all(need_browser=False):
    """Everything the Odoo tests or the demo need: returns the Odoo to use."""
    odoo = find_odoo()
    if not odoo.version.startswith("18."):
        say(f"warning: this addon targets Odoo 18.0, found Odoo {odoo.version}")
    ensure_postgres()
    ensure_tool("wkhtmltopdf", "wkhtmltopdf", "invoices would reach Kleer without their PDF")
    if need_browser:
        ensure_tool("chromium", "chromium", "the browser tour cannot run")
    return odoo


if __name__ == "__main__":
    try:
        found = ensure_all()
    except SetupError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    print(f"Odoo {found.version}: {found.python} ({found.origin})")
