"""Cost of reading payment status from Kleer: HTTP requests, SQL statements
and time for N open certified invoices, against the in-process sandbox.

    python3 tools/bench_payments.py -d BENCH_DB --db_host 127.0.0.1 --db_port 55435 \
        --db_user odoo --size 1000

BENCH_DB must have ``kleer_connector`` installed; the script commits into it
(a company "Kleer Payment Bench AB" and its invoices). The invoices are
confirmed in Odoo and stored certified in the sandbox directly (how they got
there is not what is measured); a third is then paid in full in Kleer, a
third in part, a third not at all. Measured: the first sync with payments
registered in Odoo, then the unchanged re-run (which must write nothing).
"""

import argparse
import sys
import time
from collections import Counter
from decimal import Decimal

from bench_odoo import add_db_args, open_registry

COMPANY = "Kleer Payment Bench AB"


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_db_args(p)
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--company", default=COMPANY, help="a new name for a fresh company")
    p.add_argument(
        "--no-register", action="store_true", help="payment state only, no payment registered"
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    from odoo import SUPERUSER_ID, api, sql_db

    registry = open_registry(args)
    from odoo.addons.kleer_connector.kleer_api.sandbox import SandboxServer

    sandbox = SandboxServer(seed=True)
    sandbox.start()
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company_id, move_ids = setup(
                env, sandbox, args.size, args.company, not args.no_register
            )
        print(f"{args.size} open certified invoices: 1/3 paid in full in Kleer, 1/3 in part")
        print(f"payments registered in Odoo: {not args.no_register}")
        print("| run | HTTP requests | by kind | SQL statements | per invoice | seconds | result |")
        print("|---|---:|---|---:|---:|---:|---|")
        for label in ("first run", "unchanged re-run"):
            sandbox.requests.clear()
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [company_id]})
                company = env["res.company"].browse(company_id)
                before, started = sql_db.sql_counter, time.monotonic()
                assert env["kleer.sync"]._run_sync("payments", company)
                seconds = time.monotonic() - started
                sql = sql_db.sql_counter - before
                message = (
                    env["kleer.sync.state"]
                    .search([("company_id", "=", company_id), ("sync", "=", "payments")])
                    .last_message
                )
            kinds = Counter(f"{r.method} {r.rel_path}" for r in sandbox.requests)
            by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            print(
                f"| {label} | {len(sandbox.requests)} | {by_kind} | {sql} "
                f"| {sql / args.size:.1f} | {seconds:.1f} | {message} |",
                flush=True,
            )
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            states = Counter(env["account.move"].browse(move_ids).mapped("payment_state"))
            print(f"Odoo payment states after: {dict(states)}")
    finally:
        sandbox.stop()


def setup(env, sandbox, size, name, register):
    """A Swedish company with ``size`` confirmed invoices (one line, 25 %),
    each stored certified in the sandbox with Odoo's own amounts."""
    from odoo.addons.kleer_connector.kleer_api import types as kt
    from odoo.addons.kleer_connector.kleer_api import xmlcodec
    from odoo.addons.kleer_connector.kleer_api.money import to_ore

    sek = env.ref("base.SEK")
    company = env["res.company"].search([("name", "=", name)], limit=1)
    if not company:
        sek.active = True
        company = (
            env["res.company"]
            .with_context(chart_template_load=True)
            .create({"name": name, "country_id": env.ref("base.se").id, "currency_id": sek.id})
        )
        env.user.company_ids |= company
        env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
        company.currency_id = sek
    env = env(context={"allowed_company_ids": [company.id], "tracking_disable": True})
    company.kleer_enabled = False  # confirmed without queue jobs: not what is measured
    tag = time.strftime("%H%M%S")
    vat25 = env["account.tax"].create(
        {"name": f"Pay bench 25 % {tag}", "amount": 25, "company_id": company.id}
    )
    customer = env["res.partner"].create(
        {"name": f"Pay bench kund {tag}", "country_id": env.ref("base.se").id}
    )
    dates = [f"2026-0{1 + i % 3}-{1 + i % 28:02d}" for i in range(size)]  # spread over 3 months
    moves = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": customer.id,
                "invoice_date": dates[i],
                "invoice_line_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "Tjänst",
                            "quantity": 1,
                            "price_unit": 100 + i,
                            "tax_ids": [(6, 0, vat25.ids)],
                        },
                    )
                ],
            }
            for i in range(size)
        ]
    )
    moves.action_post()
    store, cid = sandbox.state, sandbox.company_id
    for i, move in enumerate(moves):
        body = xmlcodec.invoice_to_xml(
            kt.Invoice(
                client_id=201,
                invoice_date=move.invoice_date,
                due_date=move.invoice_date,
                currency="SEK",
                foreign_id=f"odoo-move-{move.id}",
                rows=[
                    kt.InvoiceRow(
                        product_id=101,
                        quantity=Decimal(1),
                        price=to_ore(move.amount_untaxed),
                        vat=Decimal(25),
                    )
                ],
            )
        )
        kleer_id = store.create_invoice(cid, body)
        store.certify_invoice(cid, kleer_id)
        assert int(store.invoice(cid, kleer_id)["remaining"]) == to_ore(move.amount_total)
        move.write(
            {"kleer_invoice_id": kleer_id, "kleer_certified": True, "kleer_state": "certified"}
        )
        if i % 3 == 0:
            store.record_payment(cid, kleer_id, None, "2026-04-01")
        elif i % 3 == 1:
            store.record_payment(cid, kleer_id, 5000, "2026-04-01")
    bank = env["account.journal"].search(
        [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
    )
    company.write(
        {
            "kleer_enabled": True,
            "kleer_environment": "custom",
            "kleer_base_url": sandbox.base_url,
            "kleer_company_id": str(sandbox.company_id),
            "kleer_token": sandbox.token,
            "kleer_sync_payments": True,
            "kleer_register_payments": register,
            "kleer_payment_journal_id": bank.id,
        }
    )
    return company.id, moves.ids


if __name__ == "__main__":
    sys.exit(main())
