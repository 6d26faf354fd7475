"""Cost of sending invoices to Kleer: HTTP requests, SQL statements and time
per invoice, for growing batches, against the in-process sandbox.

    python3 tools/bench_invoices.py -d BENCH_DB --db_host 127.0.0.1 --db_port 55435 \
        --db_user odoo --sizes 10,100,1000 [--mode certified]

BENCH_DB must have ``kleer_connector`` installed (no demo data); the script
commits into it (a company "Kleer Bench AB" and its invoices). Each size is
posted first (SQL per posted invoice, the enqueue included), then sent as
ONE queue batch (``kleer.job._process_jobs(limit=N)``; in certified mode
followed by the cron that reads the Kleer numbers in bulk). Documents are
rendered as HTML, as Odoo does in test mode, because this machine has no
wkhtmltopdf: the figure includes the report rendering, not the PDF engine.
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from bench_odoo import add_db_args, open_registry


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_db_args(p)
    p.add_argument("--sizes", default="10,100,1000")
    p.add_argument("--mode", choices=("draft", "certified"), default="draft")
    p.add_argument("--lines", type=int, default=3, help="lines per invoice")
    p.add_argument(
        "--pdf",
        action="store_true",
        help="real PDFs (wkhtmltopdf; give Odoo's web server as the database's report.url): "
        "engine runs, batches rendered one by one, stored PDFs, re-send time per invoice",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="after each size, the statements of the send by origin (per invoice)",
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    import odoo
    from odoo import SUPERUSER_ID, api, sql_db

    registry = open_registry(args)
    # HTML documents (Odoo's test mode) unless --pdf asks for the real engine.
    odoo.tools.config["test_enable"] = not args.pdf
    pdf_stats = _watch_pdf(odoo) if args.pdf else None
    from odoo.addons.kleer_connector.kleer_api.sandbox import SandboxServer

    sandbox = SandboxServer(seed=True)
    sandbox.start()
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            ids = setup(env, sandbox, args.mode)
        print(f"mode={args.mode} lines/invoice={args.lines}")
        print(
            "| invoices | HTTP requests | per invoice | by kind | SQL to post / invoice "
            "| SQL to send | per invoice | seconds to send | ms / invoice |"
        )
        print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
        for n in [int(s) for s in args.sizes.split(",")]:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [ids["company"]]})
                moves = make_invoices(env, ids, n, args.lines)
                env.flush_all()
                before = sql_db.sql_counter
                moves.action_post()
                env.flush_all()
                post_sql = sql_db.sql_counter - before
            sandbox.requests.clear()
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [ids["company"]]})
                before, started = sql_db.sql_counter, time.monotonic()
                origins = Counter()
                if args.profile:
                    _profile(sql_db, origins)
                done = env["kleer.job"]._process_jobs(limit=n)
                seconds = time.monotonic() - started
                send_sql = sql_db.sql_counter - before
                if args.mode == "certified":  # the numbers, read in bulk by their cron
                    env["account.move"]._cron_kleer_invoice_numbers()
                    seconds = time.monotonic() - started
                    send_sql = sql_db.sql_counter - before
                    assert all(env["account.move"].browse(moves.ids).mapped("kleer_invoice_nr"))
                states = Counter(env["account.move"].browse(moves.ids).mapped("kleer_state"))
            kinds = Counter(f"{r.method} {_kind(r.rel_path)}" for r in sandbox.requests)
            assert done == n, (done, n)
            assert states == Counter({"certified" if args.mode == "certified" else "draft": n}), (
                states
            )
            requests = len(sandbox.requests)
            by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            print(
                f"| {n} | {requests} | {requests / n:.2f} | {by_kind} | {post_sql / n:.1f} "
                f"| {send_sql} | {send_sql / n:.1f} | {seconds:.1f} | {1000 * seconds / n:.1f} |",
                flush=True,
            )
            if args.pdf:
                _report_pdf(registry, api, SUPERUSER_ID, ids, moves.ids, pdf_stats, seconds)
            if args.profile:
                _profile(sql_db, None)
                for (where, what), count in origins.most_common():
                    print(f"    {count / n:6.2f}  {where}  {what}")
    finally:
        sandbox.stop()


def _profile(sql_db, origins):
    """Count each statement by (the innermost connector and the innermost
    Odoo frame that issued it, its first words); ``None`` stops."""
    import traceback

    cursor = sql_db.Cursor
    if origins is None:
        cursor.execute = cursor._bench_execute
        return
    cursor._bench_execute = original = cursor.execute

    def execute(self, query, params=None, log_exceptions=True):
        stack = traceback.extract_stack(limit=40)[:-1]
        ours = [f for f in stack if "kleer_connector" in f.filename and "/tools/" not in f.filename]
        odoo = [
            f
            for f in stack
            if "/odoo/" in f.filename and "sql_db" not in f.filename and "kleer" not in f.filename
        ]

        def name(f):
            return f"{Path(f.filename).stem}.{f.name}:{f.lineno}" if f else "-"

        text = str(query.code if hasattr(query, "code") else query)
        words = " ".join(text.split()[:4])[:60]
        where = name(ours[-1] if ours else None) + " > " + name(odoo[-1] if odoo else None)
        origins[(where, words)] += 1
        return original(self, query, params, log_exceptions)

    cursor.execute = execute


def _watch_pdf(odoo):
    """Count wkhtmltopdf runs and the batches that fell back to one by one."""
    import logging  # noqa: PLC0415

    from odoo.addons.base.models.ir_actions_report import IrActionsReport  # noqa: PLC0415

    stats = Counter()
    run = IrActionsReport._run_wkhtmltopdf

    def counted(self, bodies, *a, **kw):
        stats["engine runs"] += 1
        stats["documents asked"] += len(bodies)
        return run(self, bodies, *a, **kw)

    IrActionsReport._run_wkhtmltopdf = counted

    class Fallbacks(logging.Handler):
        def emit(self, record):
            if "rendered one by one" in record.getMessage():
                stats["batches one by one"] += 1

    log = logging.getLogger("odoo.addons.kleer_connector.models.account_move_kleer_invoice")
    log.setLevel(logging.INFO)
    log.addHandler(Fallbacks())
    return stats


def _report_pdf(registry, api, uid, ids, move_ids, stats, seconds):
    """The send's PDF figures, then a re-send's PDF (the stored one) timed."""
    with registry.cursor() as cr:
        env = api.Environment(cr, uid, {"allowed_company_ids": [ids["company"]]})
        moves = env["account.move"].browse(move_ids)
        stored = len(moves.filtered("invoice_pdf_report_id"))
        url = env["ir.config_parameter"].get_param("report.url") or "-"
        env.invalidate_all()
        started = time.monotonic()
        for move in moves:
            pdf = move._kleer_pdf([], None)
            assert pdf.data[:4] == b"%PDF", move
        resend = time.monotonic() - started
    print(
        f"    PDF: report.url {url}; {dict(stats)}; {stored}/{len(move_ids)} stored; first send "
        f"{1000 * seconds / len(move_ids):.0f} ms per invoice; re-send (stored PDF) "
        f"{1000 * resend / len(move_ids):.1f} ms per invoice",
        flush=True,
    )
    stats.clear()


def _kind(path):
    parts = [p if not p.isdigit() else "{id}" for p in path.strip("/").split("/")]
    return "/" + "/".join(parts)


def setup(env, sandbox, mode):
    """A Swedish company on the sandbox, like the tests' (committed)."""
    company = env["res.company"].search([("name", "=", "Kleer Bench AB")], limit=1)
    sek = env.ref("base.SEK")
    if not company:
        sek.active = True
        company = (
            env["res.company"]
            .with_context(chart_template_load=True)
            .create(
                {
                    "name": "Kleer Bench AB",
                    "country_id": env.ref("base.se").id,
                    "currency_id": sek.id,
                }
            )
        )
        env.user.company_ids |= company
        env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
        company.currency_id = sek
    env = env(context={"allowed_company_ids": [company.id]})
    company.write(
        {
            "kleer_enabled": True,
            "kleer_environment": "custom",
            "kleer_base_url": sandbox.base_url,
            "kleer_company_id": str(sandbox.company_id),
            "kleer_token": sandbox.token,
            "kleer_invoice_mode": mode,
        }
    )
    tag = time.strftime("%H%M%S")  # a run's own taxes, products and customers
    Tax = env["account.tax"]
    vat25 = Tax.create(
        {
            "name": f"Bench 25 % {tag}",
            "amount": 25,
            "type_tax_use": "sale",
            "company_id": company.id,
        }
    )
    vat6 = Tax.create(
        {"name": f"Bench 6 % {tag}", "amount": 6, "type_tax_use": "sale", "company_id": company.id}
    )
    Product = env["product.product"]
    known = Product.create({"name": "Konsulttimme", "type": "service", "list_price": 1200})
    known.kleer_product_id = 101
    new = Product.create(
        {"name": f"Bok (bench {tag})", "list_price": 249.5}
    )  # created in Kleer once
    default = Product.create({"name": "Övrigt"})
    default.kleer_product_id = 104
    company.kleer_default_product_id = default
    customers = env["res.partner"]
    for i in range(5):  # five new customers: created in Kleer once each
        customers |= env["res.partner"].create(
            {
                "name": f"Bench Kund {i} {tag}",
                "is_company": True,
                "country_id": env.ref("base.se").id,
                "city": "Umeå",
            }
        )
    return {
        "company": company.id,
        "taxes": (vat25.id, vat6.id),
        "products": (known.id, new.id),
        "customers": customers.ids,
    }


def make_invoices(env, ids, n, lines):
    vat25, vat6 = ids["taxes"]
    known, new = ids["products"]
    vals = []
    for i in range(n):
        line_vals = []
        for j in range(lines):
            if j % 3 == 0:
                line_vals.append(
                    {"product_id": known, "quantity": 1 + i % 7, "tax_ids": [(6, 0, [vat25])]}
                )
            elif j % 3 == 1:
                line_vals.append(
                    {
                        "product_id": new,
                        "quantity": 2,
                        "price_unit": 249.5,
                        "discount": 10,
                        "tax_ids": [(6, 0, [vat6])],
                    }
                )
            else:
                line_vals.append(
                    {"name": "Frakt", "quantity": 1, "price_unit": 49, "tax_ids": [(6, 0, [vat25])]}
                )
        vals.append(
            {
                "move_type": "out_invoice",
                "partner_id": ids["customers"][i % len(ids["customers"])],
                "invoice_date": "2026-03-10",
                "invoice_line_ids": [(0, 0, v) for v in line_vals],
            }
        )
    return env["account.move"].create(vals)


if __name__ == "__main__":
    sys.exit(main())
