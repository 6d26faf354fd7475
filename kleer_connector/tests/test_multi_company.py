"""Two companies in one database: the first company's syncs never touch the
second's products, users or rates; a branch (Odoo 18 keeps rates on its
root company) sends foreign-currency invoices with its root's rate."""

from decimal import Decimal

from odoo.tests import tagged

from .common import KleerCase
from .test_invoice_common import InvoiceCase


@tagged("post_install", "-at_install")
class TestSyncLeavesOtherCompaniesAlone(KleerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.other = cls.create_company("Annat Bolag AB", currency_id=env.ref("base.SEK").id)
        # The other company's product carries the internal reference the
        # Kleer product 101 has as foreign id: it must not be adopted.
        cls.other_product = env["product.product"].create(
            {
                "name": "Annat bolags konsulttimme",
                "default_code": "P101",
                "list_price": 5,
                "company_id": cls.other.id,
            }
        )
        # A user of the other company only, with a Kleer user's email.
        cls.other_user = env["res.users"].create(
            {
                "name": "Anna i andra bolaget",
                "login": "anna-other",
                "email": "anna@example.se",
                "company_id": cls.other.id,
                "company_ids": [(6, 0, cls.other.ids)],
            }
        )

    def sync(self, name):
        self.assertTrue(self.env["kleer.sync"]._run_sync(name, self.company))
        self.env.invalidate_all()

    def test_products_of_another_company_never_matched_or_written(self):
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT write_date FROM product_product WHERE id = %s", [self.other_product.id]
        )
        before = self.env.cr.fetchone()
        self.company.kleer_sync_products = True
        self.sync("products")
        self.env.cr.execute(
            "SELECT write_date FROM product_product WHERE id = %s", [self.other_product.id]
        )
        self.assertEqual(self.env.cr.fetchone(), before, "not written")
        self.assertEqual(
            (self.other_product.name, self.other_product.list_price),
            ("Annat bolags konsulttimme", 5),
        )
        self.assertFalse(self.other_product.with_company(self.company).kleer_product_id)
        consult = self.env["product.product"].search([("kleer_product_id", "=", 101)])
        self.assertEqual(len(consult), 1)
        self.assertNotEqual(consult, self.other_product)
        self.assertEqual(consult.name, "Konsulttimme")
        self.assertEqual(consult.company_id, self.company, "Kleer's catalogue is the company's")

    def test_users_linked_only_to_users_of_the_company(self):
        own = self.env["res.users"].create(
            {"name": "Bertil", "login": "bertil-own", "email": "bertil@example.se"}
        )
        self.assertIn(self.company, own.company_ids)
        self.company.kleer_sync_users = True
        self.sync("users")
        mirror = self.env["kleer.user"].search(
            [("company_id", "=", self.company.id)], order="kleer_id"
        )
        by_kleer = {m.kleer_id: m.user_id for m in mirror}
        self.assertFalse(by_kleer[1], "Anna works in the other company only")
        self.assertEqual(by_kleer[2], own)

    def test_rates_of_another_company_never_touched(self):
        eur, sek = self.env.ref("base.EUR"), self.env.ref("base.SEK")
        (eur | sek).active = True
        self.company.currency_id = sek
        Rate = self.env["res.currency.rate"]
        other_rate = Rate.create(
            {
                "currency_id": eur.id,
                "company_id": self.other.id,
                "name": "2026-01-01",
                "inverse_company_rate": 10,
            }
        )
        self.company.kleer_sync_rates = True
        self.sync("rates")
        own = Rate.search([("currency_id", "=", eur.id), ("company_id", "=", self.company.id)])
        self.assertAlmostEqual(own.inverse_company_rate, 11.425, places=9)
        self.assertEqual(
            Rate.search([("currency_id", "=", eur.id), ("company_id", "=", self.other.id)]),
            other_rate,
        )
        self.assertAlmostEqual(other_rate.inverse_company_rate, 10, places=9)


@tagged("post_install", "-at_install")
class TestBranchForeignCurrency(InvoiceCase):
    def test_branch_eur_invoice_sent_with_the_root_companys_rate(self):
        branch = self.create_invoicing_company(
            "Kleer Faktura AB, filial", parent_id=self.company.id
        )
        branch.kleer_default_product_id = self.other
        # Odoo 18 keeps rates on the root company; the branch has none.
        eur = self.eur_at_11_425()
        self.env = self.env(context=dict(self.env.context, allowed_company_ids=branch.ids))
        move = self.make_invoice(
            [{"name": "Tjänst", "quantity": 2, "price_unit": 100, "taxes": self.vat25}],
            currency_id=eur,
        )
        self.assertEqual(move.company_id, branch)
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft", move.kleer_last_error)
        root = self.last_invoice_xml()
        self.assertEqual(root.findtext("currency"), "EUR")
        self.assertEqual(Decimal(root.findtext("currency-rate")), Decimal("11.425"))
        self.assertTotalsEqual(move)
