"""Partners as Kleer clients.

The mapping lives here (``_kleer_client_payload`` and ``_kleer_canon``) and
is shared by the queue (push), the customers sync (pull) and the invoices.

Change detection: per partner and company, ``kleer_sync_hash`` holds two
short hashes taken at the last sync: ``<odoo>:<kleer>``. ``odoo`` hashes the
partner's mapped values in Kleer's terms (``_kleer_canon``), ``kleer`` hashes
the client as Kleer holds it. A side "changed" when its hash differs, so an
unchanged run compares in memory and writes nothing.
"""

import hashlib
import json
import re

from odoo import api, fields, models

from ..kleer_api.types import Address, Client
from .errors import KleerMappingError
from .tools import reader_env

PARTNER_STATES = [
    ("not_sent", "Not sent"),
    ("queued", "Queued"),
    ("synced", "In Kleer"),
    ("failed", "Failed"),
    ("ignored", "Ignored"),
]

# This module's company-dependent fields a pulled partner is created with
# (see ResPartner._kleer_prime_created).
KLEER_COMPANY_FIELDS = ("kleer_client_id", "kleer_state", "kleer_sync_hash", "kleer_delivery_type")

# Kleer's foreign-id of a partner: the database id, which never changes.
# (Odoo's ``ref`` is editable and not unique, so it cannot be the key.)
FOREIGN_ID_PREFIX = "odoo-partner-"

# The partner's values in Kleer's terms; their hash says "Odoo changed".
CANON_KEYS = (
    "name",
    "email",
    "phone",
    "vat",
    "orgno",
    "contact",
    "is_company",
    "street",
    "street2",
    "zip",
    "city",
    "country",
    "currency",
    "payment_days",
    "user",
    "delivery_type",
    "entries",
    "active",
)
# Odoo fields read to build the canonical values (one bulk read).
CANON_FIELDS = [
    "name",
    "email",
    "phone",
    "vat",
    "company_registry",
    "kleer_contact",
    "is_company",
    "street",
    "street2",
    "zip",
    "city",
    "country_id",
    "kleer_currency_id",
    "property_payment_term_id",
    "user_id",
    "kleer_delivery_type",
    "category_id",
    "active",
]


def partner_foreign_id(partner_id):
    return f"{FOREIGN_ID_PREFIX}{partner_id}"


def partner_id_from_foreign(foreign_id):
    """Odoo partner id encoded in a foreign-id we wrote, else None."""
    if foreign_id and foreign_id.startswith(FOREIGN_ID_PREFIX):
        tail = foreign_id[len(FOREIGN_ID_PREFIX) :]
        if tail.isdigit():
            return int(tail)
    return None


def norm_key(value):
    """VAT / org. no. compared without spaces, dashes and case."""
    return re.sub(r"[^0-9A-Za-z]", "", value or "").upper()


def _short_hash(values):
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def canon_hash(canon):
    return _short_hash([canon.get(key) for key in CANON_KEYS])


def client_hash(client):
    """Hash of the client fields the connector maps (ids and notes left out)."""
    a = client.address
    entries = client.dimension_entry_ids
    return _short_hash(
        [
            client.name or "",
            client.contact or "",
            a.address1 or "",
            a.address2 or "",
            a.zip_code or "",
            a.state or "",
            a.country or "",
            client.email or "",
            client.client_type or "",
            client.country_code or "",
            client.currency or "",
            int(client.payment_days or 0),
            client.orgno or "",
            client.phone or "",
            int(client.user_id or 0),
            client.delivery_type or "",
            client.vat_nr or "",
            sorted(entries) if entries is not None else None,
            client.active is not False,
        ]
    )


def split_hash(value):
    """``"odoo:kleer"`` -> (odoo, kleer); empty parts are ''."""
    odoo_hash, _sep, kleer_hash = (value or "").partition(":")
    return odoo_hash, kleer_hash


def _s(value):
    return (
        (value or "").strip()
        if isinstance(value, str)
        else ("" if value in (None, False) else value)
    )


def term_days(term):
    """Payment term in days, as Kleer can hold it: the longest line delay."""
    return max(term.line_ids.mapped("nb_days") or [0]) if term else 0


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "kleer.history.mixin", "kleer.protected.mixin"]
    # The Kleer client invoices and updates go to, and whether it exists there.
    _kleer_protected_fields = ("kleer_client_id", "kleer_check_remote", "kleer_sync_hash")

    # Per company: a partner may be a different client in each company's Kleer.
    kleer_client_id = fields.Integer(
        "Kleer client id", company_dependent=True, copy=False, readonly=True, index=True
    )
    kleer_state = fields.Selection(
        PARTNER_STATES, "Kleer state", company_dependent=True, copy=False
    )
    kleer_contact = fields.Char(
        "Your reference",
        help="The customer's contact person, sent to Kleer as the client's contact "
        '("Er referens" on invoices).',
    )
    kleer_currency_id = fields.Many2one(
        "res.currency",
        "Kleer invoicing currency",
        help="The client's invoicing currency in Kleer; empty = Kleer's default.",
    )
    kleer_delivery_type = fields.Char(
        "Kleer delivery type",
        company_dependent=True,
        copy=False,
        help="How Kleer delivers invoices to this client: a name from Kleer's "
        "delivery types (e.g. Email, Mail, Efaktura). Empty = Kleer's default.",
    )
    kleer_sync_hash = fields.Char(company_dependent=True, copy=False, readonly=True)
    kleer_check_remote = fields.Datetime(
        "May exist in Kleer since",
        company_dependent=True,
        copy=False,
        readonly=True,
        help="Kleer was asked to create this client and its answer is not known: it is "
        "looked up in Kleer before it is created again.",
    )

    @api.model
    def _add_missing_default_values(self, values):
        # The customers pull takes the defaults once per batch of creates and
        # gives them to every record (_kleer_batch_defaults); it names the
        # fields its values hold. With those all there, every other field was
        # asked for its default in the same environment: it has none, or a
        # company-dependent one that create stores as no value. Odoo's
        # default_get per record (a tenth of a 10,000-client pull) would find
        # nothing more.
        given = self.env.context.get("kleer_defaults_taken_for")
        if given and given <= values.keys():
            return values
        return super()._add_missing_default_values(values)

    def _kleer_prime_created(self, own_values):
        """Partners the customers pull has just created (``self``, in its
        environment's company, without an image), before their flush: two
        things Odoo works out record by record, done for the batch (a sixth
        of a 10,000-client first pull, see BENCHMARKS.md).

        - This module's company-dependent values (``own_values``: a dict per
          partner, in ``self``'s order) go to the cache as values to write:
          the flush writes them in its UPDATE of the computed columns. Given
          to create, each costs an ir.default look-up per record and field.
          Nothing is computed from them.
        - image.mixin's stored sizes are ``image_1920`` resized, so empty
          without an image: the cache is told so. Computed, each size is
          written record by record.
        """
        cache = self.env.cache
        for name in KLEER_COMPANY_FIELDS:
            field = self._fields[name]
            given = [
                (pid, vals[name])
                for pid, vals in zip(self._ids, own_values, strict=True)
                if vals.get(name)
            ]
            if given:
                records = self.browse([pid for pid, _value in given])
                values = [field.convert_to_cache(value, records) for _pid, value in given]
                cache.update(records, field, values, dirty=True)
        for field in self._fields.values():
            if isinstance(field, fields.Image) and field.store and field.related == "image_1920":
                self.env.remove_to_compute(field, self)
                cache.update(self, field, [field.convert_to_cache(False, self)] * len(self))

    # -- mapping ---------------------------------------------------------------

    def _kleer_tag_entries(self, company):
        """{tag id: Kleer entry id} of tags linked to Kleer in ``company`` (one query)."""
        self.env["res.partner.category"].flush_model(["kleer_entry_id"])
        self.env.cr.execute(
            """
            SELECT id, (kleer_entry_id->>%(c)s)::int FROM res_partner_category
             WHERE (kleer_entry_id->>%(c)s)::int > 0
            """,
            {"c": str(company.id)},
        )
        return dict(self.env.cr.fetchall())

    def _kleer_canon(self, company, tag_entries=None):
        """{partner id: values in Kleer's terms} for these partners, read in bulk."""
        if tag_entries is None:
            tag_entries = self._kleer_tag_entries(company)
        result = {}
        partners = self.with_company(company).with_context(active_test=False)
        for p in partners:
            result[p.id] = {
                "name": _s(p.name),
                "email": _s(p.email),
                "phone": _s(p.phone),
                "vat": _s(p.vat),
                "orgno": _s(p.company_registry),
                "contact": _s(p.kleer_contact),
                "is_company": bool(p.is_company),
                "street": _s(p.street),
                "street2": _s(p.street2),
                "zip": _s(p.zip),
                "city": _s(p.city),
                "country": p.country_id.code or "",
                "currency": p.kleer_currency_id.name or "",
                "payment_days": term_days(p.property_payment_term_id),
                "user": p.user_id.id or 0,
                "delivery_type": _s(p.kleer_delivery_type),
                "entries": sorted(tag_entries[t] for t in p.category_id.ids if t in tag_entries),
                "active": bool(p.active),
            }
        return result

    def _kleer_client_payload(self, company, run=None, canon=None):
        """The partner's commercial entity as a Kleer ``Client`` (the full mapping).

        City goes in ``address.state`` (Kleer has no city element), the
        country's name in ``address.country`` and its ISO code in
        ``country-code``; "our reference" is the salesperson's Kleer user.
        """
        self.ensure_one()
        partner = self.commercial_partner_id.with_company(company)
        tag_entries = partner._kleer_tag_entries(company)
        if canon is None:
            canon = partner._kleer_canon(company, tag_entries)[partner.id]
        user = self.env["res.users"].browse(canon["user"])
        kleer_user = self.env["kleer.user"]._kleer_id_for_user(user, company)
        delivery = canon["delivery_type"] or None
        if not delivery and run is not None:
            delivery = self._kleer_default_delivery_type(company, run)
        return Client(
            id=partner.kleer_client_id or 0,
            foreign_id=partner_foreign_id(partner.id),
            name=canon["name"],
            contact=canon["contact"],
            address=Address(
                address1=canon["street"],
                address2=canon["street2"],
                zip_code=canon["zip"],
                state=canon["city"],
                country=partner.country_id.name or "",
            ),
            email=canon["email"],
            client_type="Organisation" if canon["is_company"] else "Person",
            country_code=canon["country"],
            currency=canon["currency"] or None,
            payment_days=canon["payment_days"],
            orgno=canon["orgno"],
            phone=canon["phone"],
            user_id=kleer_user,
            delivery_type=delivery,
            vat_nr=canon["vat"] or None,
            # Without any tag linked to Kleer, leave the client's entries alone.
            dimension_entry_ids=list(canon["entries"]) if tag_entries else None,
            active=canon["active"],
        )

    @api.model
    def _kleer_delivery_types(self, company, run):
        return run.cached(company, "delivery_types", lambda: run.client(company).delivery_types())

    @api.model
    def _kleer_default_delivery_type(self, company, run):
        types = self._kleer_delivery_types(company, run)
        return next((t.name for t in types if t.default), None)

    # -- Odoo -> Kleer -----------------------------------------------------------

    def _kleer_ensure_client(self, company, run, job=None):
        """Kleer client id of this partner's commercial entity in ``company``:
        created in Kleer when it has none (the id is saved and, from a job,
        committed at once), updated when its mapped values changed."""
        self.ensure_one()
        partner = self.commercial_partner_id.with_company(company).sudo()
        client = run.client(company)
        canon = partner._kleer_canon(company)[partner.id]
        odoo_hash = canon_hash(canon)
        if not canon["name"]:
            raise KleerMappingError(reader_env(self)._("The customer has no name."))
        payload = partner._kleer_client_payload(company, run, canon=canon)
        if payload.delivery_type:
            names = [t.name for t in partner._kleer_delivery_types(company, run)]
            if payload.delivery_type not in names:
                raise KleerMappingError(
                    reader_env(self)._(
                        "Delivery type %(value)s is not one of Kleer's: %(names)s.",
                        value=payload.delivery_type,
                        names=", ".join(names),
                    )
                )
        kleer_id = partner.kleer_client_id
        if not kleer_id:
            kleer_id = partner._kleer_create_client(company, run, job, payload, odoo_hash)
            if kleer_id is not None:
                return kleer_id
            kleer_id = partner.kleer_client_id
        stored_odoo, _stored_kleer = split_hash(partner.kleer_sync_hash)
        if stored_odoo == odoo_hash and not (job is not None and job.check_remote):
            return kleer_id
        current = client.client(kleer_id)
        payload.id = kleer_id
        # Keep what Odoo does not manage: notes, a user Odoo cannot name,
        # entries of dimensions Odoo has no tag for.
        payload.notes = current.notes
        if not payload.user_id:
            payload.user_id = current.user_id
        if payload.dimension_entry_ids is not None:
            known = set(partner._kleer_known_entries(company))
            payload.dimension_entry_ids = sorted(
                set(payload.dimension_entry_ids)
                | {e for e in current.dimension_entry_ids or () if e not in known}
            )
        if client_hash(payload) != client_hash(current):
            client.update_client(kleer_id, payload)
        new_hash = f"{odoo_hash}:{client_hash(payload)}"
        # Unchanged rows are not written: workers posting several invoices
        # of one customer would otherwise collide on this row.
        if partner.kleer_sync_hash != new_hash:
            partner.kleer_sync_hash = new_hash
            if job is not None:
                job._commit()
        return kleer_id

    def _kleer_create_client(self, company, run, job, payload, odoo_hash):
        """Create the client in Kleer, once: one worker at a time per partner,
        looking in Kleer first when an earlier create's answer was lost.
        Returns the new id, or None when an existing client was found (or
        stored meanwhile by another worker) and is to be compared instead."""
        from .kleer_job import create_lock

        partner = self
        commit = job is not None
        Job = self.env["kleer.job"]
        if commit:
            Job._commit()  # no row lock of this job is held while it waits
        with create_lock(partner, company):
            if commit:
                Job._commit()  # a snapshot taken after the lock: sees another worker's id
            partner.invalidate_recordset(
                ["kleer_client_id", "kleer_check_remote", "kleer_sync_hash"]
            )
            if partner.kleer_client_id:
                return None
            if partner.kleer_check_remote or (job is not None and job.check_remote):
                # The last attempt may have created it: adopt, never duplicate.
                found = run.client(company).find_clients_by_foreign_id(payload.foreign_id)
                if found:
                    partner.write({"kleer_client_id": found[0].id, "kleer_check_remote": False})
                    if commit:
                        Job._commit()
                    return None
            kleer_id = Job._create_in_kleer(
                partner, lambda: run.client(company).create_client(payload), commit=commit
            )
            partner.write(
                {
                    "kleer_client_id": kleer_id,
                    "kleer_sync_hash": f"{odoo_hash}:{client_hash(payload)}",
                    "kleer_check_remote": False,
                }
            )
            if commit:
                Job._commit()
        return kleer_id

    def _kleer_known_entries(self, company):
        return self._kleer_tag_entries(company).values()

    def _kleer_job_push(self, job, run):
        self.ensure_one()
        company = job.company_id
        had_id = self.with_company(company).kleer_client_id
        kleer_id = self._kleer_ensure_client(company, run, job=job)
        return {
            "kleer_id": kleer_id,
            "message": job.env._("Client %(id)s updated in Kleer.", id=kleer_id)
            if had_id
            else job.env._("Client %(id)s created in Kleer.", id=kleer_id),
        }

    def _kleer_on_job_state(self, job, state, message=None):
        new_state = {"done": "synced"}.get(state, state)
        for partner in self:
            if partner.kleer_state != new_state:
                partner.kleer_state = new_state
            if state == "failed" and message:
                partner.message_post(
                    body=self.env._("Kleer: sending this customer failed: %(msg)s", msg=message),
                    subtype_xmlid="mail.mt_note",
                )

    # -- Kleer -> Odoo (reprocess of a failed pull) ----------------------------

    @api.model
    def _kleer_job_pull(self, job, run):
        company = job.company_id
        kleer_client = run.client(company).client(job.kleer_ref)
        sync = self.env["kleer.sync"].with_company(company)
        summary = sync._kleer_customers_pull(company, run, [kleer_client], raise_errors=True)
        return {"kleer_id": kleer_client.id, "message": summary}
