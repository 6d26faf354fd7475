#!/usr/bin/env python3
"""Benchmark of the customers pull: N Kleer clients into an empty company.

Runs against a real Odoo database and the in-process Kleer sandbox seeded
with N generated clients. Measures, for the first pull and for the unchanged
re-run: wall time, SQL statements (Odoo's global ``sql_db.sql_counter``, all
cursors), rows written, and memory (RSS now and peak growth; tracemalloc with
``--tracemalloc``, which slows Python down so its run is not timed). With
``--csv-import`` it also times Odoo's own import (``res.partner.load``, what
base_import calls) of the same N customers, for comparison.

Needs a PostgreSQL server and a database with ``account`` installed to copy
(``--template``); kleer_connector is installed into the copy first.

    python3 tools/bench_master_data.py --db-port 55434 --template base
"""

import argparse
import gc
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "kleer_connector"))


def rss_mib():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def psql(args, sql, db="postgres"):
    subprocess.run(
        [
            "psql",
            "-q",
            "-h",
            args.db_host,
            "-p",
            str(args.db_port),
            "-U",
            args.db_user,
            "-d",
            db,
            "-c",
            sql,
        ],
        check=True,
    )


def odoo_args(args, odoo_addons):
    """Odoo's options for the benchmark's server and addons (both runs)."""
    return [
        "--db_host",
        args.db_host,
        "--db_port",
        str(args.db_port),
        "--db_user",
        args.db_user,
        "--addons-path",
        f"{odoo_addons},{REPO}",
        "--log-level=warn",
    ]


def prepare_db(args, odoo_addons):
    psql(args, f'DROP DATABASE IF EXISTS "{args.db}"')
    psql(args, f'CREATE DATABASE "{args.db}" TEMPLATE "{args.template}"')
    subprocess.run(
        [sys.executable, "-m", "odoo", "-d", args.db, *odoo_args(args, odoo_addons)]
        + ["-i", "kleer_connector", "--without-demo=all", "--stop-after-init", "--no-http"],
        check=True,
        cwd="/",
    )


def seed(store, count):
    from kleer_api.sandbox.seed import _address, client_element, orgno

    for i in range(count):
        store.create_client(
            1,
            client_element(
                f"Bench Kund {i} AB",
                orgno(i),
                f"faktura{i}@kund.example.se",
                _address(f"Gatan {i}", f"{100 + i % 900} {i % 100:02d}", "Stockholm"),
                2,
                "Organisation" if i % 3 else "Person",
                vat_nr=f"SE{orgno(i)}01",
                payment_days=(10, 20, 30)[i % 3],
                contact=f"Kontakt {i}",
            ),
        )


class SandboxProcess:
    """The seeded sandbox state served by ``python -m kleer_api.sandbox``."""

    def __init__(self, count):
        from kleer_api.sandbox import seed as seed_module

        self.token, self.company_id = seed_module.TOKEN, seed_module.COMPANY_ID
        self.state_file = f"/tmp/kleer-bench-{os.getpid()}.json"
        subprocess.run(
            [sys.executable, __file__, "--make-state", self.state_file, "--count", str(count)],
            check=True,
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kleer_api.sandbox",
                "--port",
                "0",
                "--state-file",
                self.state_file,
            ],
            cwd=REPO / "kleer_connector",
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("Kleer sandbox: "):
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.base_url = line.split(": ", 1)[1].strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        os.unlink(self.state_file)


def written_rows(env):
    env.cr.execute("SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_xact_user_tables")
    return env.cr.fetchone()[0] or 0


def measure(label, registry, fn, use_tracemalloc=False):
    import odoo
    from odoo import SUPERUSER_ID, api

    gc.collect()
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        cr.execute("SELECT count(*), max(write_date) FROM res_partner")
        before_rows = cr.fetchone()
    if use_tracemalloc:
        tracemalloc.start()
    rss0, peak0 = rss_mib(), peak_mib()
    sql0 = odoo.sql_db.sql_counter
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    statements = odoo.sql_db.sql_counter - sql0
    traced = None
    if use_tracemalloc:
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    figures = {
        "label": label,
        "seconds": round(seconds, 2),
        "statements": statements,
        "rss_growth_mib": round(rss_mib() - rss0, 1),
        "peak_rss_growth_mib": round(peak_mib() - peak0, 1),
        "tracemalloc_peak_mib": round(traced, 1) if traced is not None else None,
        "result": result,
    }
    with registry.cursor() as cr:
        cr.execute("SELECT count(*), max(write_date) FROM res_partner")
        figures["partners_before_after"] = (before_rows[0], cr.fetchone()[0])
        cr.execute("SELECT count(*), max(write_date) FROM res_partner")
        figures["max_write_date_changed"] = cr.fetchone()[1] != before_rows[1]
    del env
    return figures


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-port", type=int, default=5432)
    parser.add_argument("--db-user", default="odoo")
    parser.add_argument("--template", default="base", help="a database with account installed")
    parser.add_argument("--db", default="kleer_bench_master")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--tracemalloc", action="store_true", help="also a traced (untimed) pull")
    parser.add_argument("--csv-import", action="store_true", help="also time Odoo's own import")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--in-process", action="store_true", help="serve the sandbox from this process"
    )
    parser.add_argument("--make-state", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_state:
        from kleer_api.sandbox import Store
        from kleer_api.sandbox.seed import populate

        store = Store(seeder=populate)
        seed(store, args.count)
        store.save(args.make_state)
        return

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.tools import config

    odoo_addons = Path(odoo.__file__).parent / "addons"
    prepare_db(args, odoo_addons)
    config.parse_config(odoo_args(args, odoo_addons))
    from kleer_api.sandbox import SandboxServer

    registry = odoo.modules.registry.Registry(args.db)
    t0 = time.perf_counter()
    if args.in_process:
        sandbox = SandboxServer(seed=True, check_responses=False)
        seed(sandbox.state, args.count)
        sandbox.start()
    else:
        # Seeded and served by other processes, so that the memory figures
        # are the connector's alone (the sandbox keeps its own copy).
        sandbox = SandboxProcess(args.count)
    print(
        f"sandbox seeded with {args.count} clients in {time.perf_counter() - t0:.1f} s", flush=True
    )
    results = []
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env.company.write(
                {
                    "kleer_enabled": True,
                    "kleer_environment": "custom",
                    "kleer_base_url": sandbox.base_url,
                    "kleer_company_id": str(sandbox.company_id),
                    "kleer_token": sandbox.token,
                    "kleer_customer_sync": "from_kleer",
                }
            )
            company_id = env.company.id

        def pull():
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                company = env["res.company"].browse(company_id)
                ok = env["kleer.sync"]._run_sync("customers", company)
                state = env["kleer.sync.state"].search(
                    [("company_id", "=", company_id), ("sync", "=", "customers")]
                )
                return f"ok={ok}: {state.last_message}"

        results.append(
            measure(f"pull of {args.count + 2} clients into an empty company", registry, pull)
        )
        results.append(measure("unchanged re-run", registry, pull))
        if args.tracemalloc:
            results.append(
                measure(
                    "unchanged re-run, traced (not timed)", registry, pull, use_tracemalloc=True
                )
            )
        if args.csv_import:

            def csv_import():
                fields = [
                    "name",
                    "email",
                    "vat",
                    "company_registry",
                    "street",
                    "zip",
                    "city",
                    "is_company",
                    "customer_rank",
                ]
                rows = [
                    [
                        f"Import Kund {i} AB",
                        f"imp{i}@kund.example.se",
                        f"SE66{i:08d}01",
                        f"66{i:08d}",
                        f"Gatan {i}",
                        "111 22",
                        "Stockholm",
                        "1" if i % 3 else "0",
                        "1",
                    ]
                    for i in range(args.count)
                ]
                with registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
                    res = env["res.partner"].load(fields, rows)
                    return f"{len(res['ids'] or [])} imported, {len(res['messages'])} messages"

            results.append(
                measure(
                    f"Odoo's own import (res.partner.load) of {args.count} customers",
                    registry,
                    csv_import,
                )
            )
    finally:
        sandbox.stop()
    for fig in results:
        count = args.count + 2
        print(
            f"\n{fig['label']}\n  {fig['result']}\n"
            f"  {fig['seconds']} s, {fig['statements']} SQL statements "
            f"({fig['statements'] / count:.2f} per client), RSS +{fig['rss_growth_mib']} MiB "
            f"(peak +{fig['peak_rss_growth_mib']} MiB)"
            + (
                f", tracemalloc peak {fig['tracemalloc_peak_mib']} MiB"
                if fig["tracemalloc_peak_mib"]
                else ""
            )
            + "\n  partners {} -> {}, ".format(*fig["partners_before_after"])
            + f"partner write_date changed: {fig['max_write_date_changed']}"
        )
    if not args.keep:
        registry.delete(args.db) if hasattr(registry, "delete") else None
        odoo.sql_db.close_all()
        psql(args, f'DROP DATABASE IF EXISTS "{args.db}"')


if __name__ == "__main__":
    main()
