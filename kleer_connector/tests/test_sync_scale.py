"""10,000 clients pulled in one pass (correctness only; the timing lives in
tools/bench_master_data.py), and a crashed pull resumed without duplicates."""

from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..kleer_api.sandbox.seed import _address, client_element, orgno
from ..models import kleer_sync_customers
from .common import KleerCase


def seed_clients(store, count, start=0):
    for i in range(start, start + count):
        store.create_client(
            1,
            client_element(
                f"Kund {i} AB",
                orgno(i),
                f"faktura{i}@kund.example.se",
                _address(f"Gatan {i}", "111 22", "Stockholm"),
                2,
                "Organisation" if i % 3 else "Person",
                vat_nr=f"SE{orgno(i)}01",
                payment_days=(10, 20, 30)[i % 3],
            ),
        )


@tagged("post_install", "-at_install")
class TestSyncScale(KleerCase):
    def sync(self):
        ok = self.env["kleer.sync"]._run_sync("customers", self.company)
        self.env.invalidate_all()
        return ok

    def counts(self):
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT count(*), count(DISTINCT kleer_client_id->>%(c)s), max(write_date)
              FROM res_partner WHERE COALESCE((kleer_client_id->>%(c)s)::int, 0) > 0
            """,
            {"c": str(self.company.id)},
        )
        return self.env.cr.fetchone()

    def message(self):
        return (
            self.env["kleer.sync.state"]
            .search([("company_id", "=", self.company.id), ("sync", "=", "customers")])
            .last_message
        )

    def test_pull_10000_clients_then_unchanged_run(self):
        seed_clients(self.sandbox.state, 10000)
        self.company.kleer_customer_sync = "from_kleer"
        self.assertTrue(self.sync())
        total, distinct, last_write = self.counts()
        self.assertEqual((total, distinct), (10002, 10002), "one partner per client")
        self.assertIn("10002 created, 0 updated", self.message())
        partner = self.env["res.partner"].search([("name", "=", "Kund 4999 AB")])
        self.assertEqual(len(partner), 1)
        kleer = self.sandbox.state.client(1, partner.kleer_client_id)
        self.assertEqual(kleer["name"], "Kund 4999 AB")
        self.assertEqual(partner.vat, f"SE{orgno(4999)}01")
        self.assertEqual(partner.property_payment_term_id.line_ids.nb_days, 20)
        self.assertEqual(
            self.env["account.payment.term"].search_count([("name", "=", "10 Days")]), 1
        )
        self.assertTrue(self.sync())
        self.assertEqual(self.counts(), (total, distinct, last_write), "second run writes nothing")
        self.assertIn("0 created, 0 updated, 10002 unchanged", self.message())

    def test_crashed_pull_resumes_where_it_stopped(self):
        seed_clients(self.sandbox.state, 348)  # 350 clients with the seed's two
        self.company.kleer_customer_sync = "from_kleer"
        original = type(self.env["kleer.sync"])._kleer_customers_create
        calls = []

        def crash_on_third_slice(sync, *args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("worker killed")
            return original(sync, *args, **kwargs)

        Sync = type(self.env["kleer.sync"])
        with (
            patch.object(kleer_sync_customers, "SLICE", 100),
            patch.object(Sync, "_kleer_customers_create", crash_on_third_slice),
            mute_logger("odoo.addons.kleer_connector.models.kleer_sync"),
        ):
            self.assertFalse(self.sync())
        self.assertEqual(self.counts()[:2], (200, 200), "the two committed slices stay")
        with patch.object(kleer_sync_customers, "SLICE", 100):
            self.assertTrue(self.sync())
        self.assertEqual(self.counts()[:2], (350, 350), "resumed: no duplicate, nothing lost")
        self.assertIn("150 created, 0 updated, 200 unchanged", self.message())
