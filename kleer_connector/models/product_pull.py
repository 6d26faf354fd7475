"""Products from Kleer.

A Kleer product becomes or updates an Odoo product (matched by Kleer id,
then by the foreign-id ``odoo-product-<id>`` the invoices push writes, then
by internal reference = Kleer foreign-id). Mapped: name (never with a
"[CODE] " prefix of the article number), sales price (öre ->
company currency; never onto a product priced in another currency, see
product_push), unit (-> a unit of measure by name), type, VAT (-> the
company's sales tax of that percentage) and account number (-> income
account). A missing tax or account is a mapping error for a person to fix:
the product is still taken in (invoice lines match on it), the record goes
to the log as a failed, reprocessable pull, and it is not logged again until
Kleer changes it or someone reprocesses it.

``kleer_sync_hash`` (per company) holds a hash of the Kleer values last
applied, so an unchanged product is skipped in memory.
"""

import hashlib
import json

from odoo import Command, api, fields, models

from .errors import KleerMappingError
from .kleer_sync_customers import NO_MAIL, SLICE

# Kleer's usual unit texts -> Odoo unit names (else the unit's own name).
UNIT_ALIASES = {
    "st": "Units",
    "st.": "Units",
    "styck": "Units",
    "pcs": "Units",
    "h": "Hours",
    "tim": "Hours",
    "timme": "Hours",
    "timmar": "Hours",
    "dag": "Days",
    "dagar": "Days",
    "l": "L",
    "liter": "L",
}
INCOMPLETE = "!"  # hash suffix: applied, but a mapping was missing


def product_hash(p):
    text = json.dumps(
        [
            p.name,
            p.type,
            p.unit,
            int(p.price or 0),
            p.account_nr,
            str(p.vat_percentage),
            p.foreign_id,
        ],
        default=str,
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def plain_name(name, *codes):
    """``name`` without leading "[CODE] " prefixes of the given article
    numbers: Odoo's display name adds one, so writing it back into the name
    would grow it by one per round trip."""
    name = (name or "").strip()
    for code in filter(None, (c.strip() for c in codes if c)):
        prefix = f"[{code}]"
        while name.startswith(prefix) and name[len(prefix) :].strip():
            name = name[len(prefix) :].strip()
    return name


def _match_unlinked(p, by_code, hashes, claimed):
    """The Odoo product of a Kleer product not linked yet: by our foreign id
    (``odoo-product-<id>``), then by internal reference; never one already
    taken by another Kleer product."""
    fid = p.foreign_id or ""
    pid = int(fid[13:]) if fid.startswith("odoo-product-") and fid[13:].isdigit() else None
    if pid not in hashes or pid in claimed:
        pid = by_code.get(fid) if fid else None
    return None if pid in claimed else pid


class ProductProduct(models.Model):
    _inherit = "product.product"

    kleer_sync_hash = fields.Char(company_dependent=True, copy=False, readonly=True)

    @api.model
    def _kleer_job_pull(self, job, run):
        company = job.company_id
        product = run.client(company).product(job.kleer_ref)
        message = self.env["kleer.sync"]._kleer_products_apply(
            company, [product], raise_errors=True
        )
        return {"kleer_id": product.id, "message": message}


class _ProductMaps:
    def __init__(self, env, company):
        self.env = env
        self.company = company
        self.uoms = {}
        for uom in (
            env["uom.uom"].with_context(active_test=False).search([], order="active desc, id desc")
        ):
            self.uoms[(uom.with_context(lang="en_US").name or "").lower()] = uom.id
            self.uoms[(uom.name or "").lower()] = uom.id
        self.default_uom = env.ref("uom.product_uom_unit").id
        taxes = (
            env["account.tax"]
            .with_company(company)
            .search(
                [
                    *env["account.tax"]._check_company_domain(company),
                    ("type_tax_use", "=", "sale"),
                    ("amount_type", "=", "percent"),
                ],
                order="sequence, id",
            )
        )
        self.taxes = {}
        for tax in taxes.filtered(lambda t: not t.price_include):
            self.taxes.setdefault(round(tax.amount, 4), tax.id)
        self.company_tax_ids = set(taxes.ids)
        accounts = (
            env["account.account"]
            .with_company(company)
            .search(env["account.account"]._check_company_domain(company))
        )
        self.accounts = {a.code: a.id for a in accounts if a.code}
        self.decimals = company.currency_id.decimal_places

    def vals(self, p):
        """(Odoo values, list of missing mappings) for a Kleer product."""
        problems = []
        vals = {
            "name": plain_name(p.name, p.foreign_id),
            "type": "service" if p.type in ("Services", "DigitalServices") else "consu",
            "list_price": round((p.price or 0) / 100.0, self.decimals),
            "sale_ok": True,
        }
        unit = (p.unit or "").strip().lower()
        uom = self.uoms.get(UNIT_ALIASES.get(unit, unit).lower()) if unit else self.default_uom
        if uom:
            vals["uom_id"] = uom
        else:
            problems.append(self.env._("no unit of measure named %(unit)r", unit=p.unit))
        if p.vat_percentage is not None:
            tax = self.taxes.get(round(float(p.vat_percentage), 4))
            if tax:
                vals["taxes_id"] = tax
            else:
                problems.append(
                    self.env._(
                        "no sales tax of %(vat)s %% (excluded from price)", vat=p.vat_percentage
                    )
                )
        if p.account_nr:
            account = self.accounts.get(str(p.account_nr))
            if account:
                vals["property_account_income_id"] = account
            else:
                problems.append(self.env._("no account %(code)s", code=p.account_nr))
        return vals, problems


class KleerSync(models.AbstractModel):
    _inherit = "kleer.sync"

    @api.model
    def _kleer_sync_products(self, company, run):
        return self._kleer_products_apply(company, run.client(company).products())

    @api.model
    def _kleer_products_index(self, company):
        self.env["product.product"].flush_model(
            ["kleer_product_id", "kleer_sync_hash", "default_code"]
        )
        self.env["product.template"].flush_model(["company_id"])
        # Only this company's products and shared ones (whose Kleer id and
        # hash are kept per company): another company's are never matched.
        self.env.cr.execute(
            """
            SELECT pp.id, pp.default_code,
                   COALESCE((pp.kleer_product_id->>%(c)s)::int, 0),
                   COALESCE(pp.kleer_sync_hash->>%(c)s, '')
              FROM product_product pp
              JOIN product_template pt ON pt.id = pp.product_tmpl_id
             WHERE pt.company_id IS NULL OR pt.company_id = %(cid)s
          ORDER BY pp.id
            """,
            {"c": str(company.id), "cid": company.id},
        )
        by_kleer, by_code, hashes = {}, {}, {}
        for pid, code, kleer_id, sync_hash in self.env.cr.fetchall():
            hashes[pid] = sync_hash
            if kleer_id:
                by_kleer.setdefault(kleer_id, pid)
            if code:
                by_code.setdefault(code, pid)
        return by_kleer, by_code, hashes

    @api.model
    def _kleer_products_apply(self, company, products, raise_errors=False):
        env = self.with_context(**NO_MAIL).with_company(company).env
        Product = env["product.product"]
        by_kleer, by_code, hashes = self._kleer_products_index(company)
        claimed = set(by_kleer.values())
        seen_new = set()
        maps = _ProductMaps(env, company)
        stats = dict(created=0, updated=0, unchanged=0, failed=0)

        def report(p, exc):
            if raise_errors:
                raise exc
            stats["failed"] += 1
            env["kleer.job"]._record_pull_failure(
                company, "product.product", "pull", p.id, exc, p.name
            )

        for start in range(0, len(products), SLICE):
            new = []
            for p in products[start : start + SLICE]:
                pid = by_kleer.get(p.id) or _match_unlinked(p, by_code, hashes, claimed)
                h = product_hash(p)
                if pid and hashes.get(pid, "").rstrip(INCOMPLETE) == h and not raise_errors:
                    stats["unchanged"] += 1
                    continue
                try:
                    vals, problems = maps.vals(p)
                    if not p.name:
                        raise KleerMappingError(self.env._("The Kleer product has no name."))
                    vals["kleer_sync_hash"] = h + (INCOMPLETE if problems else "")
                    if pid:
                        with env.cr.savepoint():
                            self._kleer_product_update(Product.browse(pid), p, vals, maps)
                        stats["updated"] += 1
                        claimed.add(pid)
                    else:
                        if p.id in seen_new:  # listed twice: created once
                            continue
                        seen_new.add(p.id)
                        new.append((p, vals))
                    if problems:
                        exc = KleerMappingError(
                            self.env._(
                                "Kleer product %(name)s: %(problems)s.",
                                name=p.name,
                                problems="; ".join(problems),
                            )
                        )
                        if raise_errors:
                            raise exc
                        env["kleer.job"]._record_pull_failure(
                            company, "product.product", "pull", p.id, exc, p.name
                        )
                except Exception as exc:  # noqa: BLE001 - logged, the rest go on
                    report(p, exc)
            if new:
                self._kleer_products_create(Product, new, stats, report)
            env.flush_all()
            # The sync runs on its own cursor: commit each slice.
            env.cr.commit()  # pylint: disable=invalid-commit
            env.invalidate_all()
        return self.env._(
            "%(created)s created, %(updated)s updated, %(unchanged)s unchanged, %(failed)s failed",
            **stats,
        )

    @api.model
    def _kleer_products_create(self, Product, new, stats, report):
        """Create a slice in one go; when that fails, one by one so that only
        the bad ones are reported."""
        env = Product.env
        vals_list = []
        for p, vals in new:
            tax = vals.pop("taxes_id", None)
            # Kleer's catalogue is this company's: not shown to the others.
            vals.update(
                kleer_product_id=p.id,
                taxes_id=[Command.set([tax] if tax else [])],
                company_id=env.company.id,
            )
            if "uom_id" in vals:
                vals["uom_po_id"] = vals["uom_id"]
            vals_list.append(vals)
        try:
            with env.cr.savepoint():
                created = Product.create(vals_list)
                env.flush_all()
            stats["created"] += len(created)
        except Exception:  # noqa: BLE001 - isolate the bad ones
            env.invalidate_all()
            for (p, _vals), vals in zip(new, vals_list, strict=True):
                try:
                    with env.cr.savepoint():
                        Product.create(vals)
                        env.flush_all()
                    stats["created"] += 1
                except Exception as exc:  # noqa: BLE001
                    env.invalidate_all()
                    report(p, exc)

    @api.model
    def _kleer_product_update(self, product, p, vals, maps):
        vals = dict(
            vals, kleer_product_id=p.id, name=plain_name(vals["name"], product.default_code)
        )
        tax = vals.pop("taxes_id", None)
        # Odoo's price in another currency (a shared product): left alone.
        foreign_price = product._kleer_foreign_price(maps.company)
        if foreign_price:
            vals.pop("list_price")
        diff = {}
        for key, value in vals.items():
            current = product[key]
            if isinstance(current, models.BaseModel):
                current = current.id
            if current != value:
                diff[key] = value
        if "uom_id" in diff:
            if (
                product.uom_id.category_id.id
                != product.env["uom.uom"].browse(diff["uom_id"]).category_id.id
            ):
                raise KleerMappingError(
                    self.env._(
                        "Unit %(unit)s cannot replace the product's unit %(old)s.",
                        unit=p.unit,
                        old=product.uom_id.name,
                    )
                )
        if tax:
            own = set(product.taxes_id.ids) & maps.company_tax_ids
            if own != {tax}:
                diff["taxes_id"] = [Command.unlink(t) for t in own if t != tax] + [
                    Command.link(tax)
                ]
        if diff:
            product.write(diff)
        if foreign_price and p.price:
            product._kleer_log_foreign_price(maps.company, p.id, "in", p.price)
