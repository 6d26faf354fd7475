"""./run-tests: the whole test suite in one command.

0. Set-up (tools/odoo_setup.py): Odoo 18 in .venv/ (built once), PostgreSQL,
   wkhtmltopdf and Chromium (for the browser tour) from Debian when missing.
1. The pure-Python tests: ``pytest tests`` (repo-root ``tests/``, no Odoo).
2. The addon's Odoo tests: a throwaway PostgreSQL cluster, a fresh database on
   which ``kleer_connector`` (and, by default, ``l10n_se``) is installed without
   demo data; the install log must hold no warning or error; then the tests
   through pytest-odoo on that database (a test that logs an ERROR fails);
   then an uninstall check.

It closes with one line, ``N passed, N failed, N skipped``, and exits non-zero
on any failure, and when the Odoo tests could not run (``--pure-only`` runs the
pure tests alone, on request).  ``./run-tests --help`` lists the options.
"""

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from odoo_env import ADDON, ADDON_DIR, L10N_SE, REPO, odoo_env  # noqa: E402
from odoo_setup import SetupError, ensure_all  # noqa: E402
from pgtmp import PgCluster, PgError, free_port, install_signal_handlers, make_tempdir  # noqa: E402

# By default the addon is tested in its real-world setting: installed together
# with the Swedish localisation (which also brings base_vat's VAT checks and
# l10n_se's OCR models). ./run-tests --no-l10n-se tests it with account alone.
WITH_L10N_SE = True

DB = "kc_test"
TEST_TIMEOUT = 3600  # seconds for the install, and again for the tests
LAST_LOG = REPO / ".tmp" / "last-odoo-test.log"
# Where Odoo's tour runner saves a failed tour's screenshot.
FAILED_SCREENSHOTS = REPO / ".tmp" / "tour-screenshots"
# The tour test saves its screenshots in this directory when set (--screenshots).
SCREENSHOTS_ENV = "KLEER_SCREENSHOTS"
TOOLS = REPO / "tools"

LOG_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ "  # date time pid
    r"(?P<level>[A-Z_]+) (?P<db>\S+) (?P<logger>[\w.]+): (?P<msg>.*)$"
)
PROBLEM_LEVELS = {"WARNING", "ERROR", "CRITICAL"}
SHOWN_LOADING_RE = re.compile(
    rf"^(loading \d+ modules|\d+ modules loaded|Modules loaded|init db|Module {ADDON} loaded in)"
)


class Counts:
    def __init__(self, passed=0, failed=0, skipped=0):
        self.passed, self.failed, self.skipped = passed, failed, skipped

    def __iadd__(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        return self

    def line(self):
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def banner(text):
    print(f"\n=== {text} ===", flush=True)


# -- pytest, for both suites ---------------------------------------------------


def run_pytest(label, cmd, junit, timeout=TEST_TIMEOUT, env=None):
    """Run pytest (its own output shown), count its JUnit report."""
    print("$ " + " ".join(str(part) for part in cmd), flush=True)
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(part) for part in cmd],
            cwd=REPO,
            env=env or odoo_env(),
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=timeout,
        )
        returncode = result.returncode
    except subprocess.TimeoutExpired:
        print(f"{label}: timed out after {timeout}s")
        returncode = -1
    elapsed = time.monotonic() - started
    counts = Counts()
    try:
        cases = ET.parse(junit).getroot().iter("testcase")
    except (OSError, ET.ParseError):
        cases = []  # pytest died before writing its report: exit code below
    # One count per test (a suite's "tests" attribute also counts subtests);
    # a failed subtest or teardown marks its test failed.
    for case in cases:
        outcomes = {child.tag for child in case}
        if outcomes & {"failure", "error"}:
            counts.failed += 1
        elif "skipped" in outcomes:
            counts.skipped += 1
        else:
            counts.passed += 1
    if returncode and not counts.failed:
        print(f"pytest exited {returncode} without a test failure (usage or collection error?)")
        counts.failed += 1
    if not (counts.passed or counts.failed or counts.skipped):
        print(f"{label}: no test ran")
        counts.failed += 1
    print(f"{label}: {counts.line()} in {elapsed:.0f}s")
    return counts


def run_pure_tests(tmp, python):
    banner("pure-Python tests (pytest tests)")
    junit = tmp / "pytest-pure.xml"
    return run_pytest(
        "pure tests", [python, "-m", "pytest", "tests", "-q", f"--junitxml={junit}"], junit
    )


# -- Odoo: the install and its log ----------------------------------------------


class InstallLog:
    """Reads Odoo's install log as it comes, shows the interesting part, and
    keeps its warnings and errors: a clean install logs none at all (some that
    concern the addon do not name it, e.g. a bad manifest dependency)."""

    def __init__(self, logfile, verbose):
        self.logfile = logfile
        self.verbose = verbose
        self.problems = []
        self._record = None  # (level, [lines])
        self._show = True

    def feed(self, line):
        self.logfile.write(line)
        match = LOG_RE.match(line.rstrip("\n"))
        if match:
            self._close()
            level, logger, msg = match["level"], match["logger"], match["msg"]
            self._record = (level, [line])
            self._show = self.verbose or self._interesting(level, logger, msg)
        elif self._record:
            self._record[1].append(line)
        else:  # raw output before the first log record
            self._show = True
        if self._show:
            sys.stdout.write(line)
            sys.stdout.flush()

    def finish(self):
        self._close()

    @staticmethod
    def _interesting(level, logger, msg):
        return level in PROBLEM_LEVELS or (
            logger == "odoo.modules.loading" and SHOWN_LOADING_RE.match(msg)
        )

    def _close(self):
        if self._record and self._record[0] in PROBLEM_LEVELS:
            self.problems.append("".join(self._record[1]))
        self._record = None


def run_odoo(cmd, log, timeout):
    """Run Odoo, feeding its output to ``log``; returns its exit code."""
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=odoo_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            log.feed(line)
        return proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.finish()


def install(odoo, pg, data_dir, modules, args, full_log):
    banner(f"Odoo {odoo.version}: install {modules} on a fresh database")
    cmd = odoo.command(
        pg,
        DB,
        data_dir,
        "-i",
        modules,
        "--without-demo=all",  # truthy string = no demo data (18.0 semantics)
        "--stop-after-init",
        "--log-level",
        "info",
    )
    print("$ " + " ".join(cmd), flush=True)
    started = time.monotonic()
    with open(full_log, "w") as logfile:
        log = InstallLog(logfile, args.verbose)
        returncode = run_odoo(cmd, log, args.timeout)
    print(f"install finished in {time.monotonic() - started:.0f}s, exit code {returncode}")
    problems = []
    if returncode:
        problems.append(f"the install exited with code {returncode}")
    if log.problems:
        problems.append(
            f"the install log is not clean: {len(log.problems)} warning(s) or error(s), "
            "shown above:\n" + first_lines(log.problems)
        )
    else:
        print("install log: no warning, no error")
    return problems


def first_lines(records):
    return "".join(f"  {record.splitlines()[0]}\n" for record in records)


# -- Odoo: the tests through pytest-odoo -----------------------------------------


def pytest_selection(test_tags):
    """Odoo-style ``/kleer_connector:Class[.method]`` tags -> pytest ``-k``."""
    if not test_tags:
        return []
    words = []
    for tag in test_tags.split(","):
        spec = tag.strip().split(":", 1)[1] if ":" in tag else tag.strip().lstrip("/")
        if spec and spec != ADDON:
            words.append(" and ".join(spec.split(".")))
    return ["-k", " or ".join(f"({word})" for word in words)] if words else []


def write_odoo_rc(odoo, pg, data_dir, path, logfile):
    path.write_text(
        "[options]\n"
        f"db_host = {pg.host}\n"
        f"db_port = {pg.port}\n"
        f"db_user = {pg.user}\n"
        f"db_name = {DB}\n"
        f"dbfilter = ^{DB}$\n"
        f"addons_path = {odoo.addons_path}\n"
        f"data_dir = {data_dir}\n"
        f"logfile = {logfile}\n"
        "log_level = info\n"
        "http_interface = 127.0.0.1\n"
        f"http_port = {free_port()}\n"
        "without_demo = all\n"
        f"screenshots = {FAILED_SCREENSHOTS}\n"
    )
    return path


def run_addon_tests(odoo, pg, data_dir, args, tmp, odoo_log):
    banner(f"Odoo {odoo.version}: the addon's tests (pytest-odoo on {DB})")
    rc = write_odoo_rc(odoo, pg, data_dir, tmp / "odoo.conf", odoo_log)
    junit = tmp / "pytest-odoo.xml"
    cmd = [
        odoo.python,
        "-m",
        "pytest",
        "-c",
        TOOLS / "pytest-odoo.ini",
        "--rootdir",
        REPO,
        f"--odoo-config={rc}",
        f"--odoo-database={DB}",
        "--odoo-http",
        "-q",
        "-rfE",
        f"--junitxml={junit}",
        *pytest_selection(args.test_tags),
        ADDON_DIR / "tests",
    ]
    env = dict(odoo_env(), PYTHONPATH=str(TOOLS))  # -p pytest_odoo_strict lives there
    if args.screenshots:
        env[SCREENSHOTS_ENV] = str(Path(args.screenshots).resolve())
    return run_pytest("Odoo tests", cmd, junit, timeout=args.timeout, env=env)


UNINSTALL_SCRIPT = f"""
ADDON = {ADDON!r}
module = env["ir.module.module"].search([("name", "=", ADDON)])
assert module.state == "installed", f"{{ADDON}} is {{module.state!r}}, expected 'installed'"
if DO_UNINSTALL:
    module.button_immediate_uninstall()
    env.cr.commit()
    env.cr.execute("SELECT state FROM ir_module_module WHERE name = %s", [ADDON])
    state = env.cr.fetchone()[0]
    assert state == "uninstalled", f"{{ADDON}} is {{state!r}} after uninstall"
    env.cr.execute(
        "SELECT model FROM ir_model WHERE model LIKE 'kleer.%%' UNION ALL "
        "SELECT model || '.' || name FROM ir_model_fields WHERE name LIKE 'kleer%%'"
    )
    left = [row[0] for row in env.cr.fetchall()]
    assert not left, f"left behind by the uninstall: {{left}}"
    print(f"{{ADDON}} uninstalled cleanly")
"""


def check_uninstall(odoo, pg, data_dir, uninstall):
    what = "uninstall" if uninstall else "installed-state"
    banner(f"Odoo: {what} check (odoo shell)")
    started = time.monotonic()
    ok, output = odoo.shell(pg, DB, data_dir, f"DO_UNINSTALL = {uninstall!r}\n{UNINSTALL_SCRIPT}")
    problems = [
        line
        for line in output.splitlines()
        if re.search(r" (ERROR|CRITICAL) ", line)
        or (" WARNING " in line and "kleer" in line.lower())
        or line.startswith("Traceback")
    ]
    sys.stdout.write(output)
    print(
        f"{what} check: {'OK' if ok and not problems else 'FAILED'} "
        f"in {time.monotonic() - started:.0f}s"
    )
    return ok and not problems


def run_odoo_tests(args, tmp, odoo):
    modules = f"{ADDON},{L10N_SE}" if args.l10n_se else ADDON
    counts = Counts()
    problems = []
    pg = PgCluster(tmp / "pg")
    install_log = tmp / "odoo-install.log"
    test_log = tmp / "odoo-tests.log"
    try:
        pg.start()
        print(f"PostgreSQL on 127.0.0.1:{pg.port} (data in {pg.data})")
        data_dir = tmp / "odoo-data"
        problems += install(odoo, pg, data_dir, modules, args, install_log)
        if not problems:
            counts += run_addon_tests(odoo, pg, data_dir, args, tmp, test_log)
            uninstall = not (args.no_uninstall or args.keep)
            if args.keep and not args.no_uninstall:
                print("--keep: skipping the uninstall so the kept database still has the addon")
            if not check_uninstall(odoo, pg, data_dir, uninstall):
                problems.append(f"{'uninstall' if uninstall else 'installed-state'} check failed")
        if problems or counts.failed:
            LAST_LOG.parent.mkdir(exist_ok=True)
            with open(LAST_LOG, "w") as out:
                for part in (install_log, test_log):
                    if part.exists():
                        out.write(part.read_text(errors="replace"))
            print(f"full Odoo log (install, then tests): {LAST_LOG}")
            print(f"a failed tour's last screen: {FAILED_SCREENSHOTS / DB / 'screenshots'}")
        if args.keep:
            pg.detach()
            print(
                f"\n--keep: cluster and database kept in {tmp}\n"
                f"  connect:   {pg.psql_hint(DB)}\n"
                f"  run Odoo:  {' '.join(odoo.command(pg, DB, data_dir, http_port=8069))}\n"
                f"  stop it:   {pg.stop_hint()} && rm -rf {tmp}"
            )
    except PgError as exc:
        problems.append(str(exc))
    finally:
        pg.stop()
    for problem in problems:
        print(f"FAILED: {problem.rstrip()}")
    # A failed check is one failure in the closing count, so that the
    # count and the exit status never disagree.
    counts.failed += len(problems)
    return counts, not problems and not counts.failed


def pure_python():
    """--pure-only: the project's .venv/ when built, else this python3."""
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="run-tests", description=__doc__.split("\n\n")[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--pure-only",
        action="store_true",
        help="only the pure-Python tests (no Odoo, no PostgreSQL)",
    )
    only.add_argument(
        "--odoo-only", action="store_true", help="only the Odoo install, tests and uninstall"
    )
    parser.add_argument(
        "-k",
        "--test-tags",
        metavar="TAGS",
        help="narrow the Odoo tests: /kleer_connector:TestQueue[.test_name][,...]",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the cluster and database, print how to connect"
    )
    parser.add_argument("--no-uninstall", action="store_true", help="skip the uninstall check")
    parser.add_argument(
        "--l10n-se",
        action=argparse.BooleanOptionalAction,
        default=WITH_L10N_SE,
        help=f"install {L10N_SE} too (Swedish localisation; default: on)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Odoo's full install log (default: warnings, errors, progress)",
    )
    parser.add_argument(
        "--timeout", type=int, default=TEST_TIMEOUT, help="seconds allowed for install, and tests"
    )
    parser.add_argument(
        "--screenshots",
        metavar="DIR",
        help="save the browser tour's screenshots (English run) in DIR (tools/screenshots)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    install_signal_handlers()
    started = time.monotonic()
    tmp = make_tempdir("kleer-run-tests-")
    total = Counts()
    ok = True
    try:
        odoo = None
        if not args.pure_only:
            banner("set-up: Odoo 18, PostgreSQL, wkhtmltopdf, Chromium (tools/odoo_setup.py)")
            try:
                odoo = ensure_all(need_browser=True)
            except SetupError as exc:
                # No silent partial run: without Odoo the suite has failed.
                print(f"FAILED: {exc}", flush=True)
                total.failed += 1
                ok = False
            else:
                print(f"Odoo {odoo.version}: {odoo.python} ({odoo.origin})")
                print(f"set-up done in {time.monotonic() - started:.1f}s")
        if not args.odoo_only:
            pure = run_pure_tests(tmp, odoo.python if odoo else pure_python())
            total += pure
            ok = ok and not pure.failed
        if odoo:
            odoo_counts, odoo_ok = run_odoo_tests(args, tmp, odoo)
            total += odoo_counts
            ok = ok and odoo_ok
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep or args.pure_only:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nrun-tests: {'OK' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s")
    print(total.line())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
