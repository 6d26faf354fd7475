"""Products pushed to Kleer when an invoice needs them (the product pull
lives elsewhere). A product is matched by its Kleer id, then by its article
number (internal reference = Kleer ``foreign-id``), and only then created,
once per Kleer company, its id stored (and committed) at once.

A product priced in another currency than the company's (a product shared by
companies in different currencies: Odoo keeps its ``list_price`` in the
product's ``currency_id``) is created in Kleer without a price, and the
product pull leaves its Odoo price alone: Kleer's price is only a catalogue
default (each invoice row carries its own price), and a converted figure
would follow the day's rate and, pulled back, change the price a person set
for every company."""

from odoo import models
from odoo.tools import format_amount

from ..kleer_api import types as kt
from ..kleer_api.money import round_to_ore, to_decimal
from .kleer_job import create_lock


class ProductProduct(models.Model):
    _inherit = "product.product"

    def _kleer_product_foreign_id(self):
        """The article number Kleer knows the product by: its internal
        reference, else a stable Odoo key."""
        self.ensure_one()
        return (self.default_code or "").strip() or f"odoo-product-{self.id}"

    def _kleer_product_match_keys(self):
        """Kleer foreign-ids that stand for this product: its article number,
        then the Odoo key (products created before it had one)."""
        self.ensure_one()
        return list(dict.fromkeys([self._kleer_product_foreign_id(), f"odoo-product-{self.id}"]))

    def _kleer_ensure_product(self, company, run):
        """Kleer product id of this product in ``company``'s Kleer, creating
        it there when unknown: one worker at a time per product, and never
        when Kleer's list (read at most once per batch, and again when an
        earlier create's answer was lost) already holds its foreign id."""
        self.ensure_one()
        product = self.with_company(company)
        if product.kleer_product_id:
            return product.kleer_product_id
        Job = self.env["kleer.job"]
        payload = product._kleer_product_payload(company)
        Job._commit()  # no row lock of this job is held while it waits
        with create_lock(product, company):
            Job._commit()  # a snapshot taken after the lock: sees another worker's id
            product.invalidate_recordset(["kleer_product_id", "kleer_check_remote"])
            if product.kleer_product_id:
                return product.kleer_product_id
            client = run.client(company)
            if product.kleer_check_remote:
                run.forget(company, "products_by_foreign_id")  # it may be there now
            known = run.cached(
                company,
                "products_by_foreign_id",
                lambda: {p.foreign_id: p.id for p in client.products() if p.foreign_id},
            )
            kleer_id = next(
                (known[key] for key in product._kleer_product_match_keys() if key in known), None
            )
            if not kleer_id:
                kleer_id = Job._create_in_kleer(product, lambda: client.create_product(payload))
                known[payload.foreign_id] = kleer_id
                if product._kleer_foreign_price(company):
                    product._kleer_log_foreign_price(company, kleer_id, "out")
            product.sudo().write({"kleer_product_id": kleer_id, "kleer_check_remote": False})
            Job._commit()  # the job's cursor: the id is never rolled back
        return kleer_id

    def _kleer_product_payload(self, company):
        self.ensure_one()
        product = self.with_company(company)
        taxes = product.taxes_id.filtered(
            lambda t: t.company_id in company.parent_ids and t.amount_type == "percent"
        )
        income = product.product_tmpl_id._get_product_accounts().get("income")
        account = income or company.kleer_default_account_id
        code = (account.code or "") if account else ""
        return kt.Product(
            # The product's own name: Kleer shows the article number apart, and
            # a "[CODE] " prefix would come back into Odoo with the product pull.
            name=product.with_context(display_default_code=False).display_name[:255],
            foreign_id=product._kleer_product_foreign_id(),
            type="Services" if product.type == "service" else "Goods",
            unit=product.uom_id.name or "",
            price=0
            if product._kleer_foreign_price(company)
            else round_to_ore(product.lst_price or 0.0),
            account_nr=int(code) if code.isdigit() else None,
            vat_percentage=to_decimal(taxes[0].amount).normalize() if taxes else None,
        )

    def _kleer_foreign_price(self, company):
        """Whether this product's price is in another currency than
        ``company``'s (then it is neither sent to Kleer nor taken from it)."""
        self.ensure_one()
        return self.with_company(company).currency_id != company.currency_id

    def _kleer_log_foreign_price(self, company, kleer_id, direction, kleer_price=0):
        """Tell the company's accountants, in the sync log, that this
        product's price was left alone (``direction``: "out" when Kleer's
        product was created without it, "in" when Kleer's price was not
        taken)."""
        self.ensure_one()
        installed = {code for code, _name in self.env["res.lang"].get_installed()}
        lang = company.partner_id.lang if company.partner_id.lang in installed else "en_US"
        product = self.with_company(company).with_context(lang=lang)
        env = product.env
        price = format_amount(env, product.lst_price, product.currency_id)
        if direction == "out":
            message = env._(
                "The sales price of %(product)s (%(price)s) is in %(currency)s, not in "
                "%(company)s's currency %(company_currency)s: the product was created in Kleer "
                "without a price. Each invoice row carries its own price; prices in another "
                "currency are neither sent to Kleer nor taken from it.",
                product=product.display_name,
                price=price,
                currency=product.currency_id.name,
                company=company.name,
                company_currency=company.currency_id.name,
            )
        else:
            message = env._(
                "Kleer's price of %(product)s (%(kleer_price)s) was not taken: its Odoo price "
                "(%(price)s) is in %(currency)s, not in %(company)s's currency "
                "%(company_currency)s. Prices in another currency are neither sent to Kleer "
                "nor taken from it; change it in Odoo if needed.",
                product=product.display_name,
                kleer_price=format_amount(env, kleer_price / 100.0, company.currency_id),
                price=price,
                currency=product.currency_id.name,
                company=company.name,
                company_currency=company.currency_id.name,
            )
        self.env["kleer.log"]._log_isolated(
            {
                "company_id": company.id,
                "direction": direction,
                "operation": "push" if direction == "out" else "pull",
                "res_model": self._name,
                "res_id": self.id,
                "record_name": product.display_name,
                "kleer_id": kleer_id,
                "level": "warning",
                "state": "open",
                "message": message,
            }
        )
