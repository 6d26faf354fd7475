"""What run_tests.py and demo.py share: where things are, and Odoo command lines.

Which Odoo (and which Python runs it) is decided by ``odoo_setup.py``; its
addons are the ``addons`` folder beside the ``odoo`` package.
"""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADDON = "kleer_connector"
ADDON_DIR = REPO / ADDON
# The Swedish localisation: the addon's real-world setting (chart, OCR
# references, VAT number checks through base_vat). The addon depends only on account.
L10N_SE = "l10n_se"


class Odoo:
    """An installed Odoo: the Python that imports it, its version and addons."""

    def __init__(self, python, version, package_dir, origin):
        self.python = str(python)
        self.version = version
        self.package_dir = Path(package_dir)
        self.addons_dir = self.package_dir / "addons"
        self.origin = origin

    @classmethod
    def probe(cls, python, origin):
        """The Odoo that ``python`` imports, or None."""
        try:
            result = subprocess.run(
                [
                    str(python),
                    "-c",
                    "import odoo, os; print(odoo.release.version); "
                    "print(os.path.dirname(odoo.__file__))",
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd="/",
                timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode:
            return None
        version, package_dir = result.stdout.split()[-2:]
        return cls(python, version, package_dir, origin)

    @property
    def addons_path(self):
        return f"{self.addons_dir},{REPO}"

    def command(self, pg, db, data_dir, *args, subcommand=None, http_port=None):
        """``python3 -m odoo [subcommand] -d db ...`` against cluster ``pg``.

        No HTTP server unless ``http_port`` is given.
        """
        cmd = [self.python, "-m", "odoo"]
        if subcommand:
            cmd.append(subcommand)
        cmd += [
            "-d",
            db,
            "--db_host",
            pg.host,
            "--db_port",
            str(pg.port),
            "--db_user",
            pg.user,
            "--db-filter",
            f"^{db}$",
            "--addons-path",
            self.addons_path,
            "--data-dir",
            str(data_dir),
        ]
        if http_port:
            cmd += ["--http-interface", "127.0.0.1", "--http-port", str(http_port)]
        else:
            cmd.append("--no-http")
        return cmd + list(args)

    def shell(self, pg, db, data_dir, script, timeout=900):
        """Run ``script`` (Python source) in ``odoo shell`` on ``db``.

        The script's exceptions make the shell exit non-zero; a script that
        finishes prints an ``OK`` marker that we also require, so a shell that
        silently did nothing counts as a failure.  Returns (ok, output).
        """
        marker = "__KLEER_SHELL_SCRIPT_DONE__"
        source = f"{script}\nprint({marker!r})\n"
        result = subprocess.run(
            self.command(pg, db, data_dir, "--log-level", "warn", subcommand="shell"),
            input=source,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=REPO,
            env=odoo_env(),
        )
        output = result.stdout + result.stderr
        return result.returncode == 0 and marker in result.stdout, output.replace(marker + "\n", "")


def odoo_env():
    """Environment for Odoo processes: no stray PG* variables pointing elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
