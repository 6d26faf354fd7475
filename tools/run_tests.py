"""./run-tests: the whole test suite in one command.

1. The pure-Python tests: ``python3 -m pytest tests`` (repo-root ``tests/``).
2. If Odoo is importable: a throwaway PostgreSQL cluster, a fresh database on
   which ``kleer_connector`` (with ``--l10n-se``: and ``l10n_se``) is installed
   without demo data, with the addon's Odoo tests enabled, a check that the
   install log holds no warning about the addon, and an uninstall check.

It closes with one line, ``N passed, N failed, N skipped``, and exits non-zero
on any failure.  ``./run-tests --help`` lists the options.
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

# Switch on once the addon has Odoo tests for good: then a run in which no
# Odoo test ran fails even if kleer_connector/tests/ were missing.  Without it,
# a run fails on zero Odoo tests only when kleer_connector/tests/ imports some.
REQUIRE_ODOO_TESTS = True
# By default the addon is tested in its real-world setting: installed together
# with the Swedish localisation (which also brings base_vat's VAT checks and
# l10n_se's OCR models). ./run-tests --no-l10n-se tests it with account alone.
WITH_L10N_SE = True

DB = "kc_test"
TEST_TIMEOUT = 3600  # seconds for install + tests
LAST_LOG = REPO / ".tmp" / "last-odoo-test.log"

LOG_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ "  # date time pid
    r"(?P<level>[A-Z_]+) (?P<db>\S+) (?P<logger>[\w.]+): (?P<msg>.*)$"
)
SUMMARY_RE = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")
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


# -- pure-Python tests --------------------------------------------------------


def run_pure_tests(tmp, python):
    banner(f"pure-Python tests: {python} -m pytest tests -q")
    if not (REPO / "tests").is_dir():
        print("no repo-root tests/ folder: nothing to run")
        return Counts()
    junit = tmp / "pytest.xml"
    started = time.monotonic()
    result = subprocess.run(
        [python, "-m", "pytest", "tests", "-q", f"--junitxml={junit}"],
        cwd=REPO,
        check=False,
    )
    elapsed = time.monotonic() - started
    if result.returncode == 5:
        print("pytest collected no tests (exit 5): OK, nothing to run yet")
        return Counts()
    counts = Counts()
    try:
        suites = ET.parse(junit).getroot().iter("testsuite")
    except (OSError, ET.ParseError):
        suites = []  # pytest died before writing its report: exit code below
    for suite in suites:
        total = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts += Counts(total - failed - skipped, failed, skipped)
    if result.returncode and not counts.failed:
        print(
            f"pytest exited {result.returncode} without a test failure (usage or collection error?)"
        )
        counts.failed += 1
    print(f"pure tests: {counts.line()} in {elapsed:.0f}s")
    return counts


# -- Odoo: log reading -----------------------------------------------------


def mentions_addon(text):
    # The module name, its models (kleer.*), its fields (kleer_*): all hold "kleer".
    return "kleer" in text.lower()


class OdooLog:
    """Reads Odoo's log as it comes, shows the interesting part, and
    remembers what matters for the verdict."""

    def __init__(self, logfile, verbose):
        self.logfile = logfile
        self.verbose = verbose
        self.summary = None  # (failures, errors, tests)
        self.skipped = 0
        self.errors = []  # ERROR / CRITICAL records
        self.install_warnings = []  # WARNING records outside tests
        self.in_tests = False
        self._record = None  # (level, logger, msg, [lines], in_tests)
        self._show = True

    def feed(self, line):
        self.logfile.write(line)
        match = LOG_RE.match(line.rstrip("\n"))
        if match:
            self._close()
            level, logger, msg = match["level"], match["logger"], match["msg"]
            self._track_phase(logger, msg)
            self._record = (level, logger, msg, [line], self.in_tests)
            self._show = self.verbose or self._interesting(level, logger, msg)
        elif self._record:
            self._record[3].append(line)
        else:  # raw output before the first log record
            self._show = True
        if self._show:
            sys.stdout.write(line)
            sys.stdout.flush()

    def finish(self):
        self._close()

    def _track_phase(self, logger, msg):
        if msg.startswith("Starting ") and ".tests." in logger:
            self.in_tests = True
        elif logger == "odoo.modules.loading" and msg.startswith(f"Module {ADDON} loaded in"):
            self.in_tests = False  # the addon's at_install tests are over
        elif msg.startswith("Starting post tests"):
            self.in_tests = True

    @staticmethod
    def _interesting(level, logger, msg):
        return (
            level in PROBLEM_LEVELS
            or logger.startswith(("odoo.tests", f"odoo.addons.{ADDON}"))
            or (logger == "odoo.modules.loading" and SHOWN_LOADING_RE.match(msg))
            or msg.startswith("Starting post tests")
            or "post-tests in" in msg
        )

    def _close(self):
        if not self._record:
            return
        level, logger, msg, lines, in_tests = self._record
        self._record = None
        text = "".join(lines)
        summary = SUMMARY_RE.search(msg) if logger == "odoo.tests.result" else None
        if summary:
            self.summary = tuple(int(n) for n in summary.groups())
            return
        if msg.startswith("skipped ") and ".tests." in logger:
            self.skipped += 1
        if level in ("ERROR", "CRITICAL"):
            if not is_test_report(logger, msg):
                self.errors.append(text)
        elif level == "WARNING" and not in_tests:
            # A clean install of account, l10n_se and the addon logs no warning
            # at all; some that concern the addon do not name it (e.g. a bad
            # external dependency in its manifest), so every one counts.
            self.install_warnings.append(text)


def is_test_report(logger, msg):
    """Odoo's own ERROR records about failed tests, already counted as failures."""
    if ".tests." in logger and msg.startswith(("FAIL: ", "ERROR: ")):
        return True
    return logger == "odoo.modules.loading" and (
        re.match(r"Module \w+: \d+ failures, \d+ errors of \d+ tests", msg)
        or msg.startswith("At least one test failed")
    )


def first_lines(records):
    return "".join(f"  {record.splitlines()[0]}\n" for record in records)


def addon_has_tests():
    init = ADDON_DIR / "tests" / "__init__.py"
    return init.is_file() and "import" in init.read_text()


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
        or (" WARNING " in line and mentions_addon(line))
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
    banner(f"Odoo {odoo.version} tests: install {modules} on a fresh database")
    counts = Counts()
    problems = []
    pg = PgCluster(tmp / "pg")
    try:
        pg.start()
        print(f"PostgreSQL on 127.0.0.1:{pg.port} (data in {pg.data})")
        data_dir = tmp / "odoo-data"
        tags = args.test_tags or f"/{ADDON}"
        cmd = odoo.command(
            pg,
            DB,
            data_dir,
            "-i",
            modules,
            "--without-demo=all",  # truthy string = no demo data (18.0 semantics)
            "--test-enable",
            "--test-tags",
            tags,
            "--stop-after-init",
            "--log-level",
            "info",
            http_port=free_port(),
        )
        print("$ " + " ".join(cmd), flush=True)
        full_log = tmp / "odoo-test.log"
        started = time.monotonic()
        with open(full_log, "w") as logfile:
            log = OdooLog(logfile, args.verbose)
            returncode = run_odoo(cmd, log, args.timeout)
        print(
            f"Odoo install + tests finished in {time.monotonic() - started:.0f}s, "
            f"exit code {returncode}"
        )

        if log.summary is None:
            problems.append("Odoo printed no test summary: the install did not finish")
        else:
            failures, errors, total = log.summary
            bad = failures + errors
            counts += Counts(max(total - bad - log.skipped, 0), bad, log.skipped)
            print(
                f"Odoo tests: {total} ran, {failures} failed, {errors} error(s), "
                f"{log.skipped} skipped"
            )
            if total == 0:
                expected = REQUIRE_ODOO_TESTS or addon_has_tests() or args.test_tags
                if expected:
                    problems.append(f"no Odoo test ran (test tags {tags!r})")
                else:
                    print(f"note: 0 Odoo tests ran: {ADDON}/tests/ has no tests yet")
        if returncode and log.summary and not counts.failed:
            problems.append(f"Odoo exited with code {returncode}")
        if log.errors:
            problems.append(
                f"{len(log.errors)} ERROR/CRITICAL log record(s), shown above:\n"
                + first_lines(log.errors)
            )
        if log.install_warnings:
            problems.append(
                f"the install log is not clean: {len(log.install_warnings)} "
                f"warning(s) outside the tests, shown above:\n" + first_lines(log.install_warnings)
            )
        else:
            print("install log: no warning outside the tests")

        if log.summary is not None:
            uninstall = not (args.no_uninstall or args.keep)
            if args.keep and not args.no_uninstall:
                print("--keep: skipping the uninstall so the kept database still has the addon")
            if not check_uninstall(odoo, pg, data_dir, uninstall):
                problems.append(f"{'uninstall' if uninstall else 'installed-state'} check failed")

        if problems or counts.failed:
            LAST_LOG.parent.mkdir(exist_ok=True)
            shutil.copyfile(full_log, LAST_LOG)
            print(f"full Odoo log: {LAST_LOG}")
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
        help="Odoo --test-tags, e.g. /kleer_connector:TestQueue (default: /kleer_connector)",
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
        help="show Odoo's full log (default: tests, warnings, errors)",
    )
    parser.add_argument(
        "--timeout", type=int, default=TEST_TIMEOUT, help="seconds allowed for install + tests"
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
            banner("set-up: Odoo 18, PostgreSQL, wkhtmltopdf (tools/odoo_setup.py)")
            try:
                odoo = ensure_all()
            except SetupError as exc:
                # No silent partial run: without Odoo the suite has failed.
                print(f"FAILED: {exc}", flush=True)
                total.failed += 1
                ok = False
            else:
                print(f"Odoo {odoo.version}: {odoo.python} ({odoo.origin})")
        if not args.odoo_only:
            pure = run_pure_tests(tmp, odoo.python if odoo else pure_python())
            total += pure
            ok = ok and not pure.failed
        if odoo:
            odoo_counts, odoo_ok = run_odoo_tests(args, tmp, odoo)
            total += odoo_counts
            ok = ok and odoo_ok is not False
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
