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
    """A fresh copy of ``<db>_installed`` (the template with kleer_connector
    installed, made once and kept, so that repeated runs start alike)."""
    installed = f"{args.db}_installed"
    if args.fresh_install:
        psql(args, f'DROP DATABASE IF EXISTS "{installed}"')
    exists = subprocess.run(
        ["psql", "-h", args.db_host, "-p", str(args.db_port), "-U", args.db_user, "-d", "postgres"]
        + ["-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{installed}'"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not exists:
        psql(args, f'CREATE DATABASE "{installed}" TEMPLATE "{args.template}"')
        subprocess.run(
            [sys.executable, "-m", "odoo", "-d", installed, *odoo_args(args, odoo_addons)]
            + ["-i", "kleer_connector", "--without-demo=all", "--stop-after-init", "--no-http"],
            check=True,
            cwd="/",
        )
    psql(args, f'DROP DATABASE IF EXISTS "{args.db}"')
    psql(args, f'CREATE DATABASE "{args.db}" TEMPLATE "{installed}"')


# Realistic clients (issue 14): what a Swedish company's Kleer holds.
FIRST_NAMES = ("Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Per", "Åsa", "Örjan")
LAST_NAMES = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Lindström", "Åberg")
CITIES = (
    ("Stockholm", "111"),
    ("Göteborg", "411"),
    ("Malmö", "211"),
    ("Uppsala", "753"),
    ("Västerås", "722"),
    ("Örebro", "702"),
    ("Linköping", "582"),
    ("Umeå", "903"),
)
# (country code, name in Kleer's Swedish, city, postcode)
EURO_COUNTRIES = (("FI", "Finland", "Helsingfors", "00100"), ("DE", "Tyskland", "Berlin", "10115"))
# Payment days, weighted as invoices are: mostly 30, the rest 10-60.
PAYMENT_DAYS = (30,) * 10 + (10, 10, 15, 15, 20, 20, 45, 60, 14, 25)
DELIVERY_TYPES = ("Email",) * 13 + ("Mail",) * 4 + ("Efaktura",) * 3
ASCII = str.maketrans("åäö", "aao")
SEGMENTS = ("Bygg", "Handel", "Offentlig sektor", "Vård", "IT", "Industri", "Transport", "Ideell")


def personnummer(rng):
    from stdnum import luhn

    birth = f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    serial = f"{rng.randint(0, 999):03d}"
    return f"{birth}-{serial}{luhn.calc_check_digit(birth[2:] + serial)}"


def euro_vat(code, n):
    """A valid Finnish or German VAT number (Odoo's VAT check refuses others)."""
    from stdnum.iso7064 import mod_11_10

    if code == "DE":
        base = f"{13000000 + n:08d}"
        return f"DE{base}{mod_11_10.calc_check_digit(base)}", f"HRB {n}"
    base = f"{2000000 + n:07d}"
    check = -sum(w * int(d) for w, d in zip((7, 9, 10, 5, 8, 4, 2), base, strict=True)) % 11
    if check == 10:  # no valid check digit for this base: take the next
        return euro_vat(code, n + 1)
    return f"FI{base}{check}", f"{base}-{check}"


def realistic_clients(count, entry_groups):
    """``count`` client specs (dicts), always the same for the same count:
    20 % persons without VAT, about 5 % in EUR abroad, 5 % inactive, payment
    days 10-60, the three delivery types, 0-2 dimension entries (of distinct
    dimensions, from ``entry_groups``)."""
    import random

    from kleer_api.sandbox.seed import orgno

    rng = random.Random(14)
    for i in range(count):
        city, zip3 = rng.choice(CITIES)
        spec = {
            "country_code": "SE",
            "country": "Sverige",
            "city": city,
            "zip": f"{zip3} {rng.randint(10, 99)}",
            "street": f"{rng.choice(('Storgatan', 'Kungsgatan', 'Industrivägen'))} {i % 97 + 1}",
            "street2": f"Box {i}" if rng.random() < 0.1 else "",
            "phone": f"0{rng.randint(8, 99)}-{rng.randint(100000, 9999999)}",
            "currency": None,
            "payment_days": rng.choice(PAYMENT_DAYS),
            "delivery_type": rng.choice(DELIVERY_TYPES),
            "notes": "Faktureras kvartalsvis" if rng.random() < 0.05 else None,
            "active": rng.random() >= 0.05,
        }
        kind = rng.random()
        if kind < 0.20:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            spec.update(
                name=f"{first} {last}",
                client_type="Person",
                orgno=personnummer(rng),
                vat=None,
                contact="",
                email=f"{first}.{last}{i}@example.se".lower().translate(ASCII),
            )
        else:
            segment = rng.choice(SEGMENTS)
            spec.update(
                name=f"{rng.choice(LAST_NAMES)} {segment} {i} AB",
                client_type="Organisation",
                contact=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                email=f"faktura{i}@kund{i}.example.se",
            )
            if kind < 0.25:
                code, country, city, postcode = rng.choice(EURO_COUNTRIES)
                vat, registry = euro_vat(code, i)
                spec.update(
                    name=spec["name"].replace(" AB", " Oy" if code == "FI" else " GmbH"),
                    country_code=code,
                    country=country,
                    city=city,
                    zip=postcode,
                    currency="EUR",
                    orgno=registry,
                    vat=vat,
                    phone=f"+{358 if code == 'FI' else 49} {rng.randint(10000000, 99999999)}",
                )
            else:
                number = orgno(i)
                spec.update(orgno=f"{number[:6]}-{number[6:]}", vat=f"SE{number}01")
        groups = rng.sample(entry_groups, rng.choice((0, 0, 1, 1, 2)))
        spec["entries"] = sorted(rng.choice(group) for group in groups)
        yield spec


def add_segment_dimension(store):
    """A third Kleer dimension (customer segment) beside the seed's two; the
    entry ids of each dimension, the clients' 0-2 entries are taken from."""
    from kleer_api.sandbox.seed import COMPANY_ID, entry_element

    dim = store.add_dimension(COMPANY_ID, "Kundsegment", "Kundsegment", foreign_id="SEG")
    segment_ids = [
        store.create_dimension_entry(COMPANY_ID, dim, entry_element(name, f"SEG-{n}"))
        for n, name in enumerate(SEGMENTS)
    ]
    return [[10, 11], [20, 21], segment_ids]


def seed(store, count):
    from kleer_api.sandbox.seed import COMPANY_ID, _address, client_element

    for spec in realistic_clients(count, add_segment_dimension(store)):
        store.create_client(
            COMPANY_ID,
            client_element(
                spec["name"],
                spec["orgno"],
                spec["email"],
                _address(
                    spec["street"], spec["zip"], spec["city"], spec["country"], spec["street2"]
                ),
                2,
                spec["client_type"],
                vat_nr=spec["vat"],
                payment_days=spec["payment_days"],
                contact=spec["contact"],
                country_code=spec["country_code"],
                currency=spec["currency"],
                phone=spec["phone"],
                notes=spec["notes"],
                delivery_type=spec["delivery_type"],
                entry_ids=spec["entries"],
                active=spec["active"],
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
                # Kleer does not check its own answers against its schema.
                "--no-check-responses",
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


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (0 once gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids(registry):
    """The PostgreSQL server's processes (the postmaster's children), so
    that the database's CPU can be told from ours on a shared machine."""
    with registry.cursor() as cr:
        cr.execute("SELECT pg_backend_pid()")
        backend = cr.fetchone()[0]
    with open(f"/proc/{backend}/status") as handle:
        postmaster = next(int(line.split()[1]) for line in handle if line.startswith("PPid:"))
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as handle:
                    if any(line == f"PPid:\t{postmaster}\n" for line in handle):
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


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
    pg_pids = postgres_pids(registry)
    pg0 = sum(cpu_seconds(pid) for pid in pg_pids)
    rss0, peak0 = rss_mib(), peak_mib()
    sql0 = odoo.sql_db.sql_counter
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = fn()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    statements = odoo.sql_db.sql_counter - sql0  # before the bench's own query below
    pg_pids = set(pg_pids) | set(postgres_pids(registry))
    pg_cpu = sum(cpu_seconds(pid) for pid in pg_pids) - pg0
    traced = None
    if use_tracemalloc:
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    figures = {
        "label": label,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "pg_cpu_seconds": round(pg_cpu, 2),
        "load": round(os.getloadavg()[0], 1),
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


def profiled(fn, path):
    """``fn`` run under cProfile, its statistics written to ``path``."""
    import cProfile

    def run():
        profiler = cProfile.Profile()
        try:
            return profiler.runcall(fn)
        finally:
            profiler.dump_stats(path)

    return run


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
        "--profile", action="store_true", help="the first pull's statements by origin"
    )
    parser.add_argument(
        "--cprofile",
        metavar="FILE",
        help="cProfile the first pull into FILE (its times include the profiler)",
    )
    parser.add_argument(
        "--fresh-install", action="store_true", help="install kleer_connector into a new copy"
    )
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
    from kleer_api.sandbox.seed import populate

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
        with registry.cursor() as cr:
            # Kleer's dimensions as tags first (as the categories sync does
            # in production), so that the clients' entries map to tags.
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["kleer.sync"]._run_sync("categories", env["res.company"].browse(company_id))

        def pull():
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                company = env["res.company"].browse(company_id)
                ok = env["kleer.sync"]._run_sync("customers", company)
                state = env["kleer.sync.state"].search(
                    [("company_id", "=", company_id), ("sync", "=", "customers")]
                )
                return f"ok={ok}: {state.last_message}"

        if args.profile:
            from collections import Counter

            from bench_invoices import _profile

            origins = Counter()
            _profile(odoo.sql_db, origins)
        first = profiled(pull, args.cprofile) if args.cprofile else pull
        results.append(
            measure(f"pull of {args.count + 2} clients into an empty company", registry, first)
        )
        if args.profile:
            _profile(odoo.sql_db, None)
            for (where, what), n in origins.most_common(40):
                print(f"  {n:6d}  {where}  {what}")
        results.append(measure("unchanged re-run", registry, pull))
        if args.tracemalloc:
            results.append(
                measure(
                    "unchanged re-run, traced (not timed)", registry, pull, use_tracemalloc=True
                )
            )
        if args.csv_import:

            def import_rows():
                # The same clients as the pull, as base_import hands them to
                # load(): relations by database id (the cheapest way for Odoo).
                from kleer_api.sandbox import Store

                with registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
                    company = env["res.company"].browse(company_id)
                    tags = env["res.partner"]._kleer_tag_entries(company)
                    tag_of = {entry: tag for tag, entry in tags.items()}
                    countries = {c.code: c.id for c in env["res.country"].search([])}
                    env.cr.execute("SELECT name, id FROM res_currency")
                    currencies = dict(env.cr.fetchall())
                    terms = {}
                    for term in env["account.payment.term"].search([]):
                        if len(term.line_ids) == 1 and term.line_ids.delay_type == "days_after":
                            terms.setdefault(term.line_ids.nb_days, term.id)
                    fields = [
                        "name",
                        "email",
                        "phone",
                        "vat",
                        "company_registry",
                        "kleer_contact",
                        "street",
                        "street2",
                        "zip",
                        "city",
                        "country_id/.id",
                        "kleer_currency_id/.id",
                        "property_payment_term_id/.id",
                        "kleer_delivery_type",
                        "category_id/.id",
                        "is_company",
                        "active",
                        "customer_rank",
                    ]
                    store = Store(seeder=populate)
                    groups = add_segment_dimension(store)
                    rows = [
                        [
                            f"Import {spec['name']}",
                            spec["email"],
                            spec["phone"],
                            spec["vat"] or "",
                            spec["orgno"],
                            spec["contact"],
                            spec["street"],
                            spec["street2"],
                            spec["zip"],
                            spec["city"],
                            str(countries[spec["country_code"]]),
                            str(currencies[spec["currency"]]) if spec["currency"] else "",
                            str(terms.get(spec["payment_days"], "")),
                            spec["delivery_type"],
                            ",".join(str(tag_of[e]) for e in spec["entries"]),
                            "1" if spec["client_type"] == "Organisation" else "0",
                            "1" if spec["active"] else "0",
                            "1",
                        ]
                        for spec in realistic_clients(args.count, groups)
                    ]
                return fields, rows

            fields, rows = import_rows()

            def csv_import():
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
        # Kleer's part of a pull: the list's answer alone (built and sent by
        # the sandbox, read here), so that the connector's part can be told.
        import requests

        t0 = time.perf_counter()
        answer = requests.get(
            f"{sandbox.base_url}/company/{sandbox.company_id}/client",
            headers={"X-Token": sandbox.token},
            timeout=120,
        )
        answer.raise_for_status()
        print(
            f"Kleer's answer alone (GET client, {len(answer.content) / 2**20:.1f} MiB): "
            f"{time.perf_counter() - t0:.2f} s",
            flush=True,
        )
        del answer
    finally:
        sandbox.stop()
    for fig in results:
        count = args.count + 2
        print(
            f"\n{fig['label']}\n  {fig['result']}\n"
            f"  {fig['seconds']} s (CPU: this process {fig['cpu_seconds']} s, PostgreSQL "
            f"{fig['pg_cpu_seconds']} s; load {fig['load']}), {fig['statements']} SQL statements "
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
