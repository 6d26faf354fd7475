"""Onboarding proposes the default Kleer product: after a successful Test
connection, one click creates it in Kleer and in Odoo with the default sales
account; twice, it still makes one of each. As the admin who has the right."""

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..kleer_api import types as kt
from ..kleer_api import xmlcodec
from ..models.default_product import DEFAULT_PRODUCT_CODE
from .test_invoice_common import InvoiceCase
from .test_settings_screen import settings_arch


@tagged("post_install", "-at_install")
class TestDefaultProductOnboarding(InvoiceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.company_user("kleer_onboarding_admin", "admin")
        cls.billing = cls.company_user("kleer_onboarding_billing")
        cls.company.kleer_default_product_id = False
        cls.account = cls.env["account.account"].search(
            [("company_ids", "in", cls.company.id), ("account_type", "=", "income")], limit=1
        )
        cls.company.kleer_default_account_id = cls.account

    def settings(self, user=None):
        return self.env["res.config.settings"].with_user(user or self.admin).create({})

    def kleer_products(self):
        return [
            p
            for p in self.sandbox.state.products(self.sandbox.company_id)
            if p.get("foreign-id") == DEFAULT_PRODUCT_CODE
        ]

    def odoo_products(self):
        return self.env["product.product"].search([("default_code", "=", DEFAULT_PRODUCT_CODE)])

    def test_offered_after_the_first_successful_test(self):
        arch = settings_arch(self.env, self.admin)
        [offer] = arch.xpath("//div[@name='kleer_default_product_offer']")
        self.assertEqual(
            offer.get("invisible"), "not kleer_connection_ok or kleer_default_product_id"
        )
        self.assertFalse(self.company.kleer_connection_ok)
        with self.assertRaises(UserError):  # never on an untested connection
            self.settings().action_kleer_create_default_product()
        params = self.settings().action_kleer_test_connection()["params"]
        self.assertEqual(params["type"], "success", params["message"])
        self.assertIn("press Create default product", params["message"])
        self.assertTrue(self.company.kleer_connection_ok)

    def test_one_click_creates_it_in_kleer_and_odoo_once(self):
        self.settings().action_kleer_test_connection()
        before = len(self.sandbox.state.products(self.sandbox.company_id))
        params = self.settings().action_kleer_create_default_product()["params"]
        self.assertEqual(params["type"], "success")
        product = self.company.kleer_default_product_id.with_company(self.company)
        self.assertEqual(product, self.odoo_products())
        self.assertEqual(product.property_account_income_id, self.account)
        self.assertEqual(product.type, "service")
        self.assertEqual(product.company_id, self.company)
        [created] = self.kleer_products()
        self.assertEqual(int(created["id"]), product.kleer_product_id)
        self.assertEqual(int(created["account-nr"]), int(self.account.code))
        self.assertIn(str(product.kleer_product_id), params["message"])
        [put] = self.sent("PUT", "/product")
        xmlcodec.validate(put.xml())  # the body is valid against Kleer's XSD

        # Pressed again (a second tab, a double click): nothing new anywhere.
        self.company.kleer_default_product_id = False
        self.settings().action_kleer_create_default_product()
        self.settings().action_kleer_create_default_product()
        self.assertEqual(self.odoo_products(), product)
        self.assertEqual(len(self.kleer_products()), 1)
        self.assertEqual(len(self.sandbox.state.products(self.sandbox.company_id)), before + 1)
        self.assertEqual(len(self.sent("PUT", "/product")), 1)
        self.assertEqual(self.company.kleer_default_product_id, product)

        # And a line without a product goes out with it.
        move = self.make_invoice([{"name": "Rådgivning", "price_unit": 500, "taxes": [self.vat25]}])
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft")
        rows = self.last_invoice_xml().findall("rows/row")
        self.assertEqual({r.findtext("product/id") for r in rows}, {str(product.kleer_product_id)})

    def test_kleer_product_already_there_is_adopted(self):
        # Kleer holds it already (an earlier attempt whose answer was lost).
        self.settings().action_kleer_test_connection()
        self.company._kleer_client().create_product(
            kt.Product(name="Övrig försäljning", foreign_id=DEFAULT_PRODUCT_CODE)
        )
        [existing] = self.kleer_products()
        puts = len(self.sent("PUT", "/product"))
        self.settings().action_kleer_create_default_product()
        self.assertEqual(len(self.sent("PUT", "/product")), puts, "looked up, not created")
        self.assertEqual(
            self.company.kleer_default_product_id.with_company(self.company).kleer_product_id,
            int(existing["id"]),
        )

    def test_only_kleer_managers(self):
        self.settings().action_kleer_test_connection()
        with self.assertRaises(AccessError):
            self.settings(self.admin).with_user(self.billing).action_kleer_create_default_product()
        self.assertFalse(self.odoo_products())
        self.assertFalse(self.kleer_products())
