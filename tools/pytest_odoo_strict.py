"""pytest plugin for the addon's Odoo tests under pytest-odoo (``-p pytest_odoo_strict``).

It makes a pytest run as strict as Odoo's own test runner is in ./run-tests:
- Odoo's runner sets ``odoo.modules.module.current_test`` to the running test
  (test cursors check it); pytest-odoo does so only from 19.0.
- A test that logs an ERROR (not muted, not asserted with assertLogs) fails:
  an error in the log is a defect even when the assertions held.
"""

import logging

import pytest


class _ErrorCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


_collector = _ErrorCollector()


def pytest_sessionstart(session):
    logging.getLogger().addHandler(_collector)


def pytest_sessionfinish(session):
    logging.getLogger().removeHandler(_collector)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    import odoo.modules.module  # noqa: PLC0415 - only once pytest-odoo set Odoo up

    # Before the class set-up, as Odoo's TestSuite.run does.
    odoo.modules.module.current_test = getattr(item, "instance", None) or True
    item.stash[_start_key] = len(_collector.records)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "teardown" or report.failed:
        return
    first = item.stash.get(_start_key, len(_collector.records))
    logged = _collector.records[first:]
    if logged:
        # Reported as an error at teardown: the test body itself passed.
        report.outcome = "failed"
        report.longrepr = "ERROR logged during the test:\n" + "\n".join(
            f"  {record.name}: {record.getMessage()}" for record in logged
        )


_start_key = pytest.StashKey[int]()
