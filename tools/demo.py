"""./run-demo: Odoo with kleer_connector, talking to the Kleer sandbox.

Starts PostgreSQL (throwaway, or kept in --data DIR), the Kleer sandbox with
seed data, creates the database ``kleer_demo`` with Odoo's demo data,
``kleer_connector`` and the Swedish localisation (whose demo data brings a
Swedish company, "SE Company"), points that company at the sandbox, and serves
Odoo on http://127.0.0.1:8069 until Ctrl-C, which stops everything.

``--smoke`` does the same but, instead of serving, checks that Odoo's login page
and the sandbox answer, then stops everything and exits 0.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from odoo_env import ADDON, ADDON_DIR, L10N_SE, REPO, odoo_env  # noqa: E402
from odoo_setup import SetupError, ensure_all  # noqa: E402
from pgtmp import PgCluster, PgError, free_port, install_signal_handlers, make_tempdir, port_is_free  # noqa: E402

DB = "kleer_demo"
MODULES = f"{ADDON},{L10N_SE}"
SANDBOX_TOKEN = "sandbox-token"
SANDBOX_COMPANY = "1"
COMPANY_XMLIDS = {
    "se": "base.demo_company_se",  # "SE Company", from l10n_se's demo data
    "main": "base.main_company",  # "YourCompany", generic chart, USD
}

CONFIGURE_SCRIPT = """
import json
cfg = json.loads({cfg!r})
module = env["ir.module.module"].search([("name", "=", cfg["addon"])])
assert module.state == "installed", f"{{cfg['addon']}} is {{module.state!r}}, not installed"
company = env.ref(cfg["company_xmlid"])
values = {{
    "kleer_enabled": True,
    "kleer_environment": "custom",
    "kleer_base_url": cfg["base_url"],
    "kleer_company_id": cfg["kleer_company"],
    "kleer_token": cfg["token"],
}}
missing = sorted(set(values) - set(company._fields))
if missing:
    raise SystemExit(f"res.company has no field(s) {{missing}}: is kleer_connector complete?")
company.write(values)
admin = env.ref("base.user_admin")
admin.write({{"company_ids": [(4, company.id)], "company_id": company.id}})
env.cr.commit()
print(f"kleer-demo: company {{company.name!r}} (id {{company.id}}) -> {{cfg['base_url']}}")
"""


def say(text):
    print(f"[run-demo] {text}", flush=True)


def stop_process(proc, sig=signal.SIGTERM, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def start_sandbox(base, port, python):
    """Start the Kleer sandbox; returns (process, base URL it printed)."""
    if not (ADDON_DIR / "kleer_api" / "sandbox" / "__main__.py").is_file():
        raise RuntimeError(
            "the Kleer sandbox (kleer_connector/kleer_api/sandbox/__main__.py) does not exist yet"
        )
    state = base / "sandbox.json"
    # --seed fills an empty sandbox; a state file from an earlier run wins.
    cmd = [
        python,
        "-m",
        "kleer_api.sandbox",
        "--seed",
        "--port",
        str(port),
        "--state-file",
        str(state),
    ]
    log_path = base / "sandbox.log"
    env = {**os.environ, "PYTHONPATH": str(ADDON_DIR), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=base,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"https?://[^\s'\"]+", log_path.read_text(errors="replace"))
        if found:
            return proc, found.group(0).rstrip("/.,")
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(
        f"the sandbox printed no URL; its output:\n{log_path.read_text(errors='replace')}"
    )


def http_get(url, headers=None, timeout=10):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def sandbox_info_url(base_url):
    root = base_url if base_url.endswith("/v1") else base_url + "/v1"
    return f"{root}/company/{SANDBOX_COMPANY}/info"


def database_state(pg):
    """'missing', 'incomplete' (no installed addon) or 'installed'."""

    def query(db, sql):
        result = subprocess.run(
            [
                str(pg.bindir / "psql"),
                "-h",
                pg.host,
                "-p",
                str(pg.port),
                "-U",
                pg.user,
                "-d",
                db,
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else None

    if query("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DB}'") != "1":
        return "missing"
    state = query(DB, f"SELECT state FROM ir_module_module WHERE name = '{ADDON}'")
    return "installed" if state == "installed" else "incomplete"


def prepare_database(odoo, pg, data_dir):
    """Create kleer_demo (with demo data) unless a complete one exists."""
    state = database_state(pg)
    if state == "installed":
        say(f"database {DB} exists: {ADDON} will be updated (-u) as Odoo starts")
        return ["-u", ADDON]
    if state == "incomplete":
        say(f"database {DB} is incomplete (an interrupted install?): dropping it")
        subprocess.run(
            [str(pg.bindir / "dropdb"), "-h", pg.host, "-p", str(pg.port), "-U", pg.user, DB],
            check=True,
        )
        shutil.rmtree(data_dir / "filestore" / DB, ignore_errors=True)
    say(
        f"creating database {DB} with demo data, installing {MODULES} "
        "(a few minutes; warnings and errors only)"
    )
    started = time.monotonic()
    cmd = odoo.command(pg, DB, data_dir, "-i", MODULES, "--stop-after-init", "--log-level", "warn")
    if subprocess.run(
        cmd, cwd=REPO, env=odoo_env(), stdin=subprocess.DEVNULL, check=False
    ).returncode:
        raise RuntimeError(f"installing {MODULES} failed (see the log above)")
    say(f"installed in {time.monotonic() - started:.0f}s")
    return []


def configure_company(odoo, pg, data_dir, company, base_url):
    cfg = {
        "addon": ADDON,
        "company_xmlid": COMPANY_XMLIDS[company],
        "base_url": base_url,
        "kleer_company": SANDBOX_COMPANY,
        "token": SANDBOX_TOKEN,
    }
    ok, output = odoo.shell(pg, DB, data_dir, CONFIGURE_SCRIPT.format(cfg=json.dumps(cfg)))
    if not ok:
        raise RuntimeError(f"configuring the company for Kleer failed:\n{output}")
    for line in output.splitlines():
        if line.startswith("kleer-demo:"):
            say(line.split(":", 1)[1].strip())


def wait_http(url, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        status = http_get(url, timeout=5)
        if status is not None:
            return status
        time.sleep(0.5)
    return None


def print_welcome(http_port, base_url, company):
    name = "SE Company" if company == "se" else "YourCompany"
    print(
        f"""
==================================================================
 Odoo:            http://127.0.0.1:{http_port}   login admin / admin
 Kleer sandbox:   {base_url}   token {SANDBOX_TOKEN}, company id {SANDBOX_COMPANY}
 Kleer is set up on "{name}" (the admin's current company).
 Try it:
  1. Invoicing > Customers > Invoices > New: a customer, a product line, then Confirm.
  2. Its Kleer badge turns from "queued" to "draft" (sent; certify it in Kleer) in seconds.
  3. Invoicing > Configuration > Kleer > Sync log shows what went to the sandbox.
 Ctrl-C stops Odoo, the sandbox and PostgreSQL.
==================================================================
""",
        flush=True,
    )


def run(args):
    try:
        odoo = ensure_all()
    except SetupError as exc:
        print(f"run-demo: {exc}", file=sys.stderr)
        return 2
    say(f"Odoo {odoo.version}: {odoo.python} ({odoo.origin})")
    http_port = args.http_port or (free_port() if args.smoke else 8069)
    if not port_is_free(http_port):
        say(f"port {http_port} on 127.0.0.1 is in use: choose another with --http-port")
        return 2
    persistent = args.data is not None
    base = Path(args.data).resolve() if persistent else make_tempdir("kleer-demo-")
    base.mkdir(parents=True, exist_ok=True)
    data_dir = base / "odoo-data"
    pg = PgCluster(base / "pg", persistent=persistent)
    sandbox = server = None
    try:
        pg.start()
        say(
            f"PostgreSQL on 127.0.0.1:{pg.port} "
            f"({'kept in ' + str(base) if persistent else 'throwaway'})"
        )
        sandbox, base_url = start_sandbox(base, args.sandbox_port or 0, odoo.python)
        say(f"Kleer sandbox at {base_url} (log: {base / 'sandbox.log'})")
        update = prepare_database(odoo, pg, data_dir)
        configure_company(odoo, pg, data_dir, args.company, base_url)

        cmd = odoo.command(
            pg,
            DB,
            data_dir,
            *update,
            "--log-level",
            "warn" if args.smoke else "info",
            http_port=http_port,
        )
        # Own session: Ctrl-C reaches only us, and we stop Odoo exactly once.
        server = subprocess.Popen(
            cmd, cwd=REPO, env=odoo_env(), stdin=subprocess.DEVNULL, start_new_session=True
        )
        if args.smoke:
            return smoke(server, http_port, base_url)
        if wait_http(f"http://127.0.0.1:{http_port}/web/login", server, 600) == 200:
            print_welcome(http_port, base_url, args.company)
        return server.wait()
    except KeyboardInterrupt:
        say("stopping ...")
        return 130 if args.smoke else 0
    except (PgError, RuntimeError, subprocess.CalledProcessError) as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        stop_process(server, signal.SIGINT, 60)
        stop_process(sandbox, signal.SIGTERM, 10)
        pg.stop()
        if not persistent:
            shutil.rmtree(base, ignore_errors=True)
        say("stopped")


def smoke(server, http_port, base_url):
    login = f"http://127.0.0.1:{http_port}/web/login"
    status = wait_http(login, server, 600)
    say(f"smoke: GET {login} -> {status}")
    info = sandbox_info_url(base_url)
    sandbox_status = http_get(info, headers={"X-Token": SANDBOX_TOKEN})
    say(f"smoke: GET {info} (X-Token) -> {sandbox_status}")
    ok = status == 200 and sandbox_status == 200
    say(f"smoke: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="run-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--http-port", type=int, help="Odoo's port (default 8069; a free one with --smoke)"
    )
    parser.add_argument(
        "--sandbox-port", type=int, help="the Kleer sandbox's port (default: any free one)"
    )
    parser.add_argument(
        "--data", metavar="DIR", help="keep PostgreSQL, Odoo's files and the sandbox state in DIR"
    )
    parser.add_argument(
        "--company",
        choices=sorted(COMPANY_XMLIDS),
        default="se",
        help="company to connect to Kleer: se = the Swedish demo company (default), "
        "main = YourCompany",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="check that everything answers, then stop (for CI)"
    )
    args = parser.parse_args(argv)
    install_signal_handlers()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
