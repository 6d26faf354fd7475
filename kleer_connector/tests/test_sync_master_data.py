"""Users, categories, products and exchange rates from the sandbox: field by
field, failures to the log, and the unchanged run that writes nothing."""

from odoo.tests import tagged

from ..kleer_api.sandbox.seed import product_element
from ..models.kleer_sync import SYNCS
from .common import KleerCase


@tagged("post_install", "-at_install")
class TestSyncMasterData(KleerCase):
    def sync(self, name):
        ok = self.env["kleer.sync"]._run_sync(name, self.company)
        self.env.invalidate_all()
        return ok

    def message(self, name):
        return (
            self.env["kleer.sync.state"]
            .search([("company_id", "=", self.company.id), ("sync", "=", name)])
            .last_message
        )

    def max_write(self, table):
        self.env.flush_all()
        self.env.cr.execute(f"SELECT count(*), max(write_date) FROM {table}")  # noqa: S608 - fixed names
        return self.env.cr.fetchone()

    def test_every_sync_names_its_setting_and_method(self):
        for name, sync in SYNCS.items():
            with self.subTest(sync=name):
                self.assertIn(sync.flag, self.env["res.company"]._fields)
                self.assertTrue(callable(getattr(self.env["kleer.sync"], sync.method, None)))

    # -- users ---------------------------------------------------------------

    def test_users_mirrored_and_linked_by_email(self):
        anna = self.env["res.users"].create(
            {"name": "Anna", "login": "anna", "email": "Anna@Example.se"}
        )
        self.company.kleer_sync_users = True
        self.assertTrue(self.sync("users"))
        mirror = (
            self.env["kleer.user"]
            .with_context(active_test=False)
            .search([("company_id", "=", self.company.id)], order="kleer_id")
        )
        self.assertEqual(mirror.mapped("kleer_id"), [1, 2, 3])
        self.assertEqual(mirror.mapped("name"), ["Anna Admin", "Bertil Sälj", "Cecilia Slutat"])
        self.assertEqual(
            mirror.mapped("email"), ["anna@example.se", "bertil@example.se", "cecilia@example.se"]
        )
        self.assertEqual(mirror.mapped("active"), [True, True, False])
        self.assertEqual(mirror[0].user_id, anna, "linked by email, case ignored")
        self.assertFalse(mirror[1].user_id)
        self.assertFalse(
            self.env["res.users"].search([("login", "=", "bertil@example.se")]), "no login created"
        )
        self.assertEqual(self.env["kleer.user"]._kleer_id_for_user(anna, self.company), 1)
        before = self.max_write("kleer_user")
        self.assertTrue(self.sync("users"))
        self.assertEqual(self.max_write("kleer_user"), before, "unchanged run writes nothing")
        self.assertIn("0 created, 0 updated", self.message("users"))

    # -- categories ----------------------------------------------------------

    def test_categories_become_tags_linked_to_entries(self):
        self.company.kleer_sync_categories = True
        self.assertTrue(self.sync("categories"))
        Tag = self.env["res.partner.category"]
        dim = Tag.search([("kleer_dimension_id", "=", 1), ("kleer_entry_id", "=", 0)])
        self.assertEqual(dim.name, "Kostnadsställe")
        entries = Tag.search([("kleer_entry_id", "in", [10, 11, 20, 21])], order="kleer_entry_id")
        self.assertEqual(entries.mapped("name"), ["Stockholm", "Göteborg", "Alfa", "Beta"])
        self.assertEqual(entries.mapped("kleer_dimension_id"), [1, 1, 2, 2])
        self.assertEqual(entries[0].parent_id, dim)
        self.assertEqual(entries[2].parent_id.name, "Projekt")
        before = self.max_write("res_partner_category")
        self.assertTrue(self.sync("categories"))
        self.assertEqual(self.max_write("res_partner_category"), before)
        # A renamed entry is updated in place.
        store = self.sandbox.state
        store.update_dimension_entry(
            1,
            2,
            20,
            b"<dimension-entry-writeable><name>Alfa 2</name><foreign-id>PR-ALFA</foreign-id>"
            b"<description/><active>true</active></dimension-entry-writeable>",
        )
        self.sync("categories")
        self.assertEqual(entries[2].name, "Alfa 2")
        self.assertEqual(len(Tag.search([("kleer_entry_id", "=", 20)])), 1)

    # -- products ------------------------------------------------------------

    def _tax(self, amount):
        return self.env["account.tax"].create(
            {
                "name": f"Moms {amount}%",
                "amount": amount,
                "amount_type": "percent",
                "type_tax_use": "sale",
                "company_id": self.company.id,
            }
        )

    def _account(self, code):
        return self.env["account.account"].create(
            {
                "name": f"Försäljning {code}",
                "code": str(code),
                "account_type": "income",
                "company_ids": [(6, 0, [self.company.id])],
            }
        )

    def test_products_mapped_and_missing_tax_logged(self):
        tax25, tax6 = self._tax(25), self._tax(6)
        acc3041, acc3003 = self._account(3041), self._account(3003)
        self.company.kleer_sync_products = True
        self.assertTrue(self.sync("products"))
        Product = self.env["product.product"].with_context(active_test=False)
        consult = Product.search([("kleer_product_id", "=", 101)])
        self.assertEqual(consult.name, "Konsulttimme")
        self.assertEqual(consult.type, "service")
        self.assertEqual(consult.list_price, 1200.0)
        self.assertEqual(consult.uom_id, self.env.ref("uom.product_uom_hour"))
        self.assertEqual(consult.taxes_id & (tax25 | tax6), tax25)
        self.assertEqual(consult.property_account_income_id, acc3041)
        book = Product.search([("kleer_product_id", "=", 102)])
        self.assertEqual(
            (book.type, book.list_price, book.uom_id),
            ("consu", 250.0, self.env.ref("uom.product_uom_unit")),
        )
        self.assertEqual(book.taxes_id & (tax25 | tax6), tax6)
        self.assertEqual(book.property_account_income_id, acc3003)
        # 103: 12 % VAT and account 3002 have no match; taken in, and logged.
        food = Product.search([("kleer_product_id", "=", 103)])
        self.assertEqual(food.uom_id, self.env.ref("uom.product_uom_kgm"))
        job = self.env["kleer.job"].search(
            [("res_model", "=", "product.product"), ("kleer_ref", "=", 103)]
        )
        self.assertEqual(job.state, "failed")
        self.assertIn("12", job.last_error)
        self.assertIn("3002", job.last_error)
        self.assertIn("4 created", self.message("products"))
        # Unchanged run: nothing written, nothing logged again.
        logs = self.env["kleer.log"].search_count([])
        before = self.max_write("product_product")
        self.assertTrue(self.sync("products"))
        self.assertEqual(self.max_write("product_product"), before)
        self.assertEqual(self.env["kleer.log"].search_count([]), logs)
        # Fix the mapping, reprocess: the product gets its tax and account.
        tax12, acc3002 = self._tax(12), self._account(3002)
        job.action_process_now()
        self.assertEqual(job.state, "done")
        self.assertEqual(food.taxes_id & tax12, tax12)
        self.assertEqual(food.property_account_income_id, acc3002)
        # A price change in Kleer updates the product.
        self.sandbox.state.update_product(
            1, 102, product_element("Bok", "st", 27500, 6, 3003, "Goods", "P102")
        )
        self.sync("products")
        self.assertEqual(book.list_price, 275.0)

    # -- rates ---------------------------------------------------------------

    def test_rates_in_odoo_direction_written_once(self):
        eur = self.env.ref("base.EUR")
        usd = self.env.ref("base.USD")
        sek = self.env.ref("base.SEK")
        self.env["res.currency"].search([("id", "not in", (eur | usd | sek).ids)]).active = False
        (eur | usd | sek).active = True
        # The sandbox quotes its rates in SEK, Kleer's accounting currency.
        self.company.currency_id = sek
        self.company.kleer_sync_rates = True
        self.assertTrue(self.sync("rates"))
        Rate = self.env["res.currency.rate"]
        eur_rate = Rate.search([("currency_id", "=", eur.id), ("company_id", "=", self.company.id)])
        self.assertEqual(len(eur_rate), 1)
        self.assertAlmostEqual(eur_rate.rate, 1 / 11.425, places=12, msg="EUR per SEK")
        self.assertAlmostEqual(eur_rate.inverse_company_rate, 11.425, places=9)
        self.assertEqual(
            eur.with_company(self.company)._convert(100, sek, self.company, eur_rate.name), 1142.5
        )
        before = self.max_write("res_currency_rate")
        self.assertTrue(self.sync("rates"))
        self.assertEqual(
            self.max_write("res_currency_rate"), before, "unchanged rates are not written"
        )
        self.assertIn("0 written, 2 unchanged, 0 failed", self.message("rates"))
        # A changed rate is written for today, in Odoo's direction.
        self.sandbox.state.add_rate(1, "EUR", "SEK", "11.5", date=str(eur_rate.name))
        self.sync("rates")
        self.assertAlmostEqual(eur_rate.rate, 1 / 11.5, places=12)
        # A currency Kleer has no rate for goes to the log; the rest go on.
        self.env.ref("base.NOK").active = False
        gbp = self.env.ref("base.GBP")
        gbp.active = True
        self.sync("rates")
        self.assertIn("1 failed", self.message("rates"))
        job = self.env["kleer.job"].search(
            [("res_model", "=", "res.currency"), ("kleer_ref", "=", gbp.id)]
        )
        self.assertEqual(job.state, "failed")
