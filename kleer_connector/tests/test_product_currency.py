"""A product priced in another currency than the company's (a shared product,
priced in the main company's USD, sold by a SEK company): its price is
neither sent to Kleer nor taken from it; the invoice row carries Odoo's own
converted line price, and the sync log says what was left alone."""

from datetime import date

from odoo.tests import tagged

from ..kleer_api import xmlcodec
from ..kleer_api.money import to_ore
from .test_invoice_common import InvoiceCase


@tagged("post_install", "-at_install")
class TestForeignCurrencyProduct(InvoiceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        usd = env.ref("base.USD")
        usd.active = True
        main = env["res.company"]._get_main_company()
        if main.currency_id != usd:
            main.currency_id = usd
        # Odoo's rate, in the SEK company: 1 USD = 10.587 SEK.
        env["res.currency.rate"].create(
            {
                "currency_id": usd.id,
                "company_id": cls.company.id,
                "name": "2026-03-01",
                "inverse_company_rate": 10.587,
            }
        )
        cls.widget = env["product.product"].create(
            {"name": "Widget", "list_price": 120.50, "company_id": False}
        )
        cls.usd = usd

    def kleer_product(self):
        kleer_id = self.widget.with_company(self.company).kleer_product_id
        self.assertTrue(kleer_id)
        return kleer_id, self.sandbox.state.element("product", self.sandbox.company_id, kleer_id)

    def price_logs(self, direction):
        return self.env["kleer.log"].search(
            [
                ("res_model", "=", "product.product"),
                ("res_id", "=", self.widget.id),
                ("direction", "=", direction),
                ("level", "=", "warning"),
                ("state", "=", "open"),
            ]
        )

    def test_usd_price_neither_sent_nor_pulled(self):
        self.assertEqual(self.widget.currency_id, self.usd, "a shared product: main company's")
        self.assertEqual(self.company.currency_id, self.env.ref("base.SEK"))
        move = self.make_invoice(
            [{"product_id": self.widget, "quantity": 2, "taxes": self.vat25}],
            invoice_date=date(2026, 3, 10),
        )
        line = move.invoice_line_ids
        # Odoo's own conversion for the invoice line: 120.50 USD = 1,275.73 kr.
        self.assertAlmostEqual(line.price_unit, 1275.73, places=2)
        self.process_queue()
        self.assertEqual(move.kleer_state, "draft", move.kleer_last_error)

        (put,) = self.sent("PUT", "/product")
        body = put.xml()
        xmlcodec.validate(body)
        self.assertEqual(body.findtext("name"), "Widget")
        self.assertEqual(body.findtext("price"), "0", "a USD price is not sent as kronor")
        row = self.last_invoice_xml().find("rows/row")
        kleer_id, stored = self.kleer_product()
        self.assertEqual(row.findtext("product/id"), str(kleer_id))
        self.assertEqual(row.findtext("price"), str(to_ore(line.price_unit)), "Odoo's line price")
        self.assertTotalsEqual(move)
        (pushed,) = self.price_logs("out")
        self.assertIn("$", pushed.message)
        self.assertIn("120.50", pushed.message)
        self.assertIn("without a price", pushed.message)
        self.assertEqual(pushed.kleer_id, kleer_id)

        # The pull of that product: nothing to say while Kleer has no price.
        self.company.kleer_sync_products = True
        self.assertTrue(self.env["kleer.sync"]._run_sync("products", self.company))
        self.env.invalidate_all()
        self.assertEqual(self.widget.list_price, 120.50)
        self.assertFalse(self.price_logs("in"))

        # Someone types a kronor price (and a new name) in Kleer: the name is
        # taken, the USD price stays, and the log says so.
        edited = stored
        edited.find("name").text = "Widget XL"
        edited.find("price").text = "127573"
        self.sandbox.state.update_product(self.sandbox.company_id, kleer_id, edited)
        self.assertTrue(self.env["kleer.sync"]._run_sync("products", self.company))
        self.env.invalidate_all()
        self.assertEqual(self.widget.name, "Widget XL", "the pull ran on it")
        self.assertEqual(self.widget.list_price, 120.50)
        self.assertEqual(self.widget.currency_id, self.usd)
        (pulled,) = self.price_logs("in")
        self.assertIn("1,275.73", pulled.message)
        self.assertIn("was not taken", pulled.message)

    def test_same_currency_price_still_sent_and_pulled(self):
        """The company's own product (SEK) keeps both ways."""
        chair = self.env["product.product"].create(
            {"name": "Stol", "list_price": 499.0, "company_id": self.company.id}
        )
        self.assertEqual(chair.currency_id, self.company.currency_id)
        self.make_invoice([{"product_id": chair, "quantity": 1, "taxes": self.vat25}])
        self.process_queue()
        (put,) = self.sent("PUT", "/product")
        self.assertEqual(put.xml().findtext("price"), "49900")
        kleer_id = chair.with_company(self.company).kleer_product_id
        edited = self.sandbox.state.element("product", self.sandbox.company_id, kleer_id)
        edited.find("price").text = "52500"
        self.sandbox.state.update_product(self.sandbox.company_id, kleer_id, edited)
        self.company.kleer_sync_products = True
        self.assertTrue(self.env["kleer.sync"]._run_sync("products", self.company))
        self.env.invalidate_all()
        self.assertEqual(chair.list_price, 525.0)
        self.assertFalse(
            self.env["kleer.log"].search(
                [("res_model", "=", "product.product"), ("res_id", "=", chair.id)]
            )
        )
