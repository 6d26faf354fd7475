"""Customers sync, both ways.

Kleer -> Odoo: all clients (one unpaged list). Each is matched to a partner
by Kleer id, then by the foreign-id we wrote, then by VAT / org. no., so no
duplicate partner is created. Existing partners are read in bulk (one query
for the whole index, one bulk read per slice of changed ones), new ones are
created in batches, and every slice is committed so that a crash resumes
where it stopped (the next run matches what was committed by Kleer id).

Odoo -> Kleer: customers (customer rank > 0 or invoiced) changed since the
last run are queued as ``push`` jobs (see ``res.partner._kleer_job_push``).

Conflict rule (both directions on): a side "changed" when its values differ
from those recorded at the last sync (per-partner hashes). The side that
changed wins. When both changed, Odoo wins: Kleer keeps no modification
time, so "most recent" cannot be known, and the Odoo edit is the one made
in the system the customer is worked on. Kleer's losing values go to the
sync log as a "conflict" entry and the partner is queued for a push.
"""

import logging
from datetime import timedelta

from odoo import Command, api, models
from odoo.exceptions import ValidationError
from odoo.tools import split_every

from .errors import KleerMappingError
from .res_partner import (
    CANON_KEYS,
    KLEER_COMPANY_FIELDS,
    canon_hash,
    client_hash,
    norm_key,
    partner_id_from_foreign,
    split_hash,
)

_logger = logging.getLogger(__name__)

SLICE = 500  # clients per committed slice (bounds the ORM cache)
NO_MAIL = {
    "tracking_disable": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_notrack": True,
    "active_test": False,
}
# Canonical values of a partner that has none set (what create gives).
DEFAULT_CANON = {
    "name": "",
    "email": "",
    "phone": "",
    "vat": "",
    "orgno": "",
    "contact": "",
    "is_company": False,
    "street": "",
    "street2": "",
    "zip": "",
    "city": "",
    "country": "",
    "currency": "",
    "payment_days": 0,
    "user": 0,
    "delivery_type": "",
    "entries": [],
    "active": True,
}
SIMPLE_FIELDS = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "vat": "vat",
    "orgno": "company_registry",
    "contact": "kleer_contact",
    "is_company": "is_company",
    "street": "street",
    "street2": "street2",
    "zip": "zip",
    "city": "city",
    "delivery_type": "kleer_delivery_type",
    "active": "active",
}


class _PartnerIndex:
    """Every partner that may be a client, read in one query: ids, keys and
    the hashes of the last sync for this company."""

    def __init__(self, env, company):
        env["res.partner"].flush_model(
            [
                "vat",
                "company_registry",
                "kleer_client_id",
                "kleer_sync_hash",
                "parent_id",
                "company_id",
            ]
        )
        env.cr.execute(
            """
            SELECT id, vat, company_registry,
                   COALESCE((kleer_client_id->>%(c)s)::int, 0),
                   COALESCE(kleer_sync_hash->>%(c)s, '')
              FROM res_partner
             WHERE parent_id IS NULL AND (company_id IS NULL OR company_id = %(cid)s)
          ORDER BY id
            """,
            {"c": str(company.id), "cid": company.id},
        )
        rows = env.cr.fetchall()
        # The partners of Odoo's users and companies: never adopted by a
        # client (a foreign-id or VAT anyone can type in Kleer), never
        # written from Kleer (their e-mail is where a password reset goes).
        env["res.users"].flush_model(["partner_id", "share"])
        env.cr.execute(
            "SELECT partner_id FROM res_users WHERE NOT share "
            "UNION SELECT partner_id FROM res_company"
        )
        self.odoo_only = {row[0] for row in env.cr.fetchall()}
        self.by_kleer = {}
        self.by_key = {}
        self.claimed = {}
        self.hashes = {}
        for pid, vat, orgno, kleer_id, sync_hash in rows:
            self.hashes[pid] = sync_hash
            if kleer_id:
                self.by_kleer.setdefault(kleer_id, pid)
                self.claimed[pid] = kleer_id
            if pid in self.odoo_only:
                continue
            for key in {norm_key(vat), norm_key(orgno)}:
                if len(key) >= 6:
                    self.by_key.setdefault(key, []).append(pid)

    def match(self, client):
        pid = self.by_kleer.get(client.id)
        if pid:
            return pid
        pid = partner_id_from_foreign(client.foreign_id)
        if (
            pid in self.hashes
            and pid not in self.odoo_only
            and self.claimed.get(pid, client.id) == client.id
        ):
            return self._claim(pid, client.id)
        for key in (norm_key(client.vat_nr), norm_key(client.orgno)):
            for pid in self.by_key.get(key, ()) if len(key) >= 6 else ():
                if pid not in self.claimed:
                    return self._claim(pid, client.id)
        return None

    def _claim(self, pid, kleer_id):
        self.claimed[pid] = kleer_id
        self.by_kleer[kleer_id] = pid
        return pid

    def add(self, pid, kleer_id, sync_hash):
        self.hashes[pid] = sync_hash
        self._claim(pid, kleer_id)


class _ClientMaps:
    """Lookups from Kleer values to Odoo ids, read once per run."""

    def __init__(self, env, company):
        self.env = env
        self.company = company
        env.cr.execute("SELECT code, id FROM res_country")
        self.countries = {code.upper(): cid for code, cid in env.cr.fetchall() if code}
        self.country_names = {
            (c.name or "").lower(): c.code.upper() for c in env["res.country"].search([]) if c.code
        }
        env.cr.execute("SELECT name, id FROM res_currency")
        self.currencies = dict(env.cr.fetchall())
        self.kleer_users = {
            u.kleer_id: u.user_id.id
            for u in env["kleer.user"]
            .with_context(active_test=False)
            .search([("company_id", "=", company.id), ("user_id", "!=", False)])
        }
        self.tag_entries = env["res.partner"]._kleer_tag_entries(company)
        self.entry_tags = {entry: tag for tag, entry in self.tag_entries.items()}
        self._terms = None
        self._stock = None

    def terms(self):
        if self._terms is None:
            self._terms = {}
            Term = self.env["account.payment.term"].with_context(active_test=False)
            for term in Term.search(
                [("company_id", "in", (False, self.company.id))], order="active desc, sequence, id"
            ):
                lines = term.line_ids
                if (
                    len(lines) == 1
                    and lines.delay_type == "days_after"
                    and lines.value == "percent"
                    and not term.early_discount
                ):
                    self._terms.setdefault(lines.nb_days, term.id)
        return self._terms

    def term_id(self, days):
        """The payment term for ``days`` days; created when Odoo has none."""
        if not days:
            return False
        terms = self.terms()
        if days not in terms:
            term = self.env["account.payment.term"].create(
                {
                    "name": self.env._("%(days)s Days", days=days),
                    "company_id": self.company.id,
                    "line_ids": [
                        Command.create({"value": "percent", "value_amount": 100.0, "nb_days": days})
                    ],
                }
            )
            terms[days] = term.id
        return terms[days]

    def canon(self, client):
        """The client's values in the partner's canonical terms. Values Odoo
        cannot hold (an unknown country, a Kleer user with no Odoo user) are
        left out, so the partner keeps its own."""
        a = client.address
        values = {
            "name": (client.name or "").strip(),
            "email": (client.email or "").strip(),
            "phone": (client.phone or "").strip(),
            "vat": (client.vat_nr or "").strip(),
            "orgno": (client.orgno or "").strip(),
            "contact": (client.contact or "").strip(),
            "street": (a.address1 or "").strip(),
            "street2": (a.address2 or "").strip(),
            "zip": (a.zip_code or "").strip(),
            "city": (a.state or "").strip(),
            "payment_days": int(client.payment_days or 0),
            "delivery_type": (client.delivery_type or "").strip(),
            "active": client.active is not False,
        }
        if client.client_type in ("Organisation", "Person"):
            values["is_company"] = client.client_type == "Organisation"
        code = (client.country_code or "").strip().upper()
        if not code and a.country:
            code = self.country_names.get(a.country.strip().lower(), "")
        if not code or code in self.countries:
            values["country"] = code
        currency = (client.currency or "").strip().upper()
        if not currency or currency in self.currencies:
            values["currency"] = currency
        user = self.kleer_users.get(client.user_id)
        if user:
            values["user"] = user
        if self.entry_tags:
            values["entries"] = sorted(
                e for e in client.dimension_entry_ids or () if e in self.entry_tags
            )
        return values

    def vat_refused(self, vals):
        """True when Odoo's VAT check (base_vat's, when installed) refuses
        the VAT number of these partner values for their country: such a
        client is taken in with the number as Kleer has it, the way Odoo's
        own imports can (``no_vat_validation``), and a person is warned."""
        vat = vals.get("vat") or ""
        if len(vat) <= 1:  # base_vat ignores these too
            return False
        Partner = self.env["res.partner"]
        country = self.env["res.country"].browse(vals.get("country_id") or [])
        if hasattr(Partner, "_fix_vat_number"):
            vat = Partner._fix_vat_number(vat, country.id)
        return Partner._run_vat_test(vat, country, vals.get("is_company", True)) is False

    def vat_accepted(self, vals):
        """True when Odoo's VAT check would accept the VAT number of these
        partner values (or there is none), decided without its query: base_vat
        looks the number's country prefix up in ``res_country`` once per
        partner (8,000 statements for 10,000 clients). Only base_vat's own
        check is decided here, and only its first, passing branch (a prefix
        that is a country code and a number that is valid for it); anything
        else is left to Odoo's check, which then runs as usual."""
        vat = vals.get("vat") or ""
        if len(vat) <= 1:  # base_vat skips these
            return True
        if not self._stock_vat_check:
            return False
        Partner = self.env["res.partner"]
        vat = Partner._fix_vat_number(vat, vals.get("country_id") or False)
        prefix, number = Partner._split_vat(vat)
        return prefix.upper() in self.countries and bool(Partner.simple_vat_check(prefix, number))

    @property
    def _stock_vat_check(self):
        """base_vat's check, not changed by another module (a localisation
        may add its own rules): only then can ``vat_accepted`` decide."""
        if self._stock is None:
            cls = type(self.env["res.partner"])
            owners = {
                name: next((k.__module__ for k in cls.__mro__ if name in vars(k)), None)
                for name in ("check_vat", "_run_vat_test", "simple_vat_check", "_fix_vat_number")
            }
            self._stock = set(owners.values()) == {"odoo.addons.base_vat.models.res_partner"}
        return self._stock

    def vals(self, canon, current_tags=None):
        """Odoo field values for canonical values (all or a diff)."""
        vals = {}
        for key, value in canon.items():
            if key in SIMPLE_FIELDS:
                vals[SIMPLE_FIELDS[key]] = value if isinstance(value, bool) else (value or False)
            elif key == "country":
                vals["country_id"] = self.countries.get(value, False)
            elif key == "currency":
                vals["kleer_currency_id"] = self.currencies.get(value, False)
            elif key == "payment_days":
                vals["property_payment_term_id"] = self.term_id(value)
            elif key == "user":
                vals["user_id"] = value or False
            elif key == "entries":
                wanted = {self.entry_tags[e] for e in value}
                linked = set(self.tag_entries)
                if current_tags is None:
                    vals["category_id"] = [Command.set(sorted(wanted))]
                else:
                    vals["category_id"] = [
                        Command.unlink(t) for t in current_tags if t in linked and t not in wanted
                    ] + [Command.link(t) for t in sorted(wanted) if t not in current_tags]
        return vals


class KleerSync(models.AbstractModel):
    _inherit = "kleer.sync"

    @api.model
    def _kleer_sync_customers(self, company, run):
        direction = company.kleer_customer_sync
        parts = []
        if direction in ("from_kleer", "both"):
            # Streamed: only one slice of clients is in memory at a time.
            clients = run.client(company).iter_clients()
            parts.append(self._kleer_customers_pull(company, run, clients))
        if direction in ("to_kleer", "both"):
            parts.append(self._kleer_customers_push(company, run))
        return "; ".join(parts) or self.env._("Customer sync is off.")

    # -- Kleer -> Odoo -----------------------------------------------------------

    @api.model
    def _kleer_customers_pull(self, company, run, clients, raise_errors=False):
        env = self.with_context(**NO_MAIL).with_company(company).env
        Partner = env["res.partner"]
        both = company.kleer_customer_sync == "both"
        index = _PartnerIndex(env, company)
        maps = _ClientMaps(env, company)
        stats = dict(created=0, updated=0, unchanged=0, conflicts=0, failed=0)

        def fail(client, exc):
            if raise_errors:
                raise exc
            stats["failed"] += 1
            env["kleer.job"]._record_pull_failure(
                company,
                "res.partner",
                "pull",
                client.id,
                exc,
                client.name or f"Kleer client {client.id}",
            )

        for batch in split_every(SLICE, clients, list):
            new, changed = [], []
            for client in batch:
                pid = index.match(client)
                if pid is None:
                    new.append(client)
                elif pid in index.odoo_only or split_hash(index.hashes[pid])[1] == client_hash(
                    client
                ):
                    stats["unchanged"] += 1
                else:
                    changed.append((client, pid))
            if changed:
                partners = Partner.browse([pid for _c, pid in changed])
                current = partners._kleer_canon(company, maps.tag_entries)
                for client, pid in changed:
                    try:
                        with env.cr.savepoint():
                            outcome = self._kleer_customer_update(
                                company,
                                Partner.browse(pid),
                                client,
                                current[pid],
                                index,
                                maps,
                                both,
                            )
                        stats[outcome] += 1
                    except Exception as exc:  # noqa: BLE001 - logged, the rest go on
                        fail(client, exc)
            if new:
                self._kleer_customers_create(company, Partner, new, index, maps, stats, fail)
            env.flush_all()
            # Commit per slice: a crash resumes here (committed partners
            # carry their Kleer id); this cursor is the sync's own.
            env.cr.commit()  # pylint: disable=invalid-commit
            env.invalidate_all()
        return self.env._(
            "Kleer to Odoo: %(created)s created, %(updated)s updated, %(unchanged)s unchanged, "
            "%(conflicts)s conflicts, %(failed)s failed",
            **stats,
        )

    @api.model
    def _kleer_customer_update(self, company, partner, client, current, index, maps, both):
        kleer_values = maps.canon(client)
        odoo_hash, _kleer_hash = split_hash(index.hashes[partner.id])
        odoo_changed = bool(odoo_hash) and canon_hash(current) != odoo_hash
        diff = {k: v for k, v in kleer_values.items() if current.get(k) != v}
        if "name" in diff and not diff["name"]:
            raise KleerMappingError(self.env._("The Kleer client has no name."))
        if both and odoo_changed and diff:
            self._kleer_log_conflict(company, partner, client, current, diff)
            self.env["kleer.job"].with_company(company)._enqueue(partner, "push", company=company)
            return "conflicts"
        vals = maps.vals(diff, current_tags=set(partner.category_id.ids)) if diff else {}
        merged = dict(current, **kleer_values)
        sync_hash = f"{canon_hash(merged)}:{client_hash(client)}"
        vals["kleer_sync_hash"] = sync_hash
        if partner.kleer_client_id != client.id:
            vals["kleer_client_id"] = client.id
        if partner.kleer_state != "synced":
            vals["kleer_state"] = "synced"
        current_vat = {"vat": partner.vat, "country_id": partner.country_id.id}
        refused = bool({"vat", "country"} & set(diff)) and maps.vat_refused(
            {**current_vat, "is_company": partner.is_company, **vals}
        )
        (partner.with_context(no_vat_validation=True) if refused else partner).write(vals)
        index.hashes[partner.id] = sync_hash
        if refused:
            self._kleer_log_vat_refused(company, partner, client)
        return "updated" if diff else "unchanged"

    @api.model
    def _kleer_customers_create(self, company, Partner, clients, index, maps, stats, fail):
        vals_list, done = [], []
        for client in clients:
            try:
                canon = dict(DEFAULT_CANON, **maps.canon(client))
                if not canon["name"]:
                    raise KleerMappingError(self.env._("The Kleer client has no name."))
                vals = maps.vals(canon)
                # Kleer's client id is its customer number.
                vals.update(customer_rank=1, ref=str(client.id))
                # The company-dependent ones are set after create, for the
                # batch at once (res.partner._kleer_prime_created).
                own = {name: vals.pop(name) for name in KLEER_COMPANY_FIELDS if name in vals}
                own.update(
                    kleer_client_id=client.id,
                    kleer_sync_hash=f"{canon_hash(canon)}:{client_hash(client)}",
                    kleer_state="synced",
                )
                vals_list.append(vals)
                done.append((client, own))
            except Exception as exc:  # noqa: BLE001 - logged, the rest go on
                fail(client, exc)
        if not vals_list:
            return
        Partner, defaults = self._kleer_batch_defaults(Partner, vals_list)
        vals_list = [dict(defaults, **vals) for vals in vals_list]
        # Partners whose VAT number is known to pass Odoo's check are created
        # without it (its query per partner); the others with it.
        checked = [maps.vat_accepted(vals) for vals in vals_list]
        created = []
        for skip_check in (True, False):
            group = [
                (client, vals, own)
                for (client, own), vals, ok in zip(done, vals_list, checked, strict=True)
                if ok == skip_check
            ]
            if group:
                model = Partner.with_context(no_vat_validation=True) if skip_check else Partner
                created += self._kleer_partners_create(company, model, group, maps, fail)
        for client, pid, own in created:
            index.add(pid, client.id, own["kleer_sync_hash"])
        stats["created"] += len(created)

    @api.model
    def _kleer_batch_defaults(self, Partner, vals_list):
        """The defaults of the fields ``vals_list`` leaves out, taken once for
        the batch (create evaluates them per record, and some run a query
        each: account's invoice-template flag), and ``Partner`` with a
        context that tells create so (``kleer_defaults_taken_for``, see
        ``res.partner``)."""
        given = set().union(*vals_list)
        defaults = Partner.default_get([name for name in Partner._fields if name not in given])
        for name, value in list(defaults.items()):
            field = Partner._fields[name]
            # Create stores a company-dependent value equal to its fallback as
            # no value (NULL): left out, it is the same, without a cached
            # lookup per record and field.
            if field.company_dependent and field.convert_to_column_insert(value, Partner) is None:
                del defaults[name]
        # Odoo's create also fills properties fields and _inherits parents
        # there: a model with those keeps its own way.
        if Partner._inherits or any(f.type == "properties" for f in Partner._fields.values()):
            return Partner, defaults
        return Partner.with_context(kleer_defaults_taken_for=frozenset(given)), defaults

    @api.model
    def _kleer_partners_create(self, company, Partner, group, maps, fail):
        """Create the partners of ``group`` ([(client, vals, own values)]) in
        one batch; when that fails, one by one, so that only the bad ones
        fail. Returns [(client, partner id, own values)] of those created."""
        try:
            with Partner.env.cr.savepoint():
                partners = Partner.create([vals for _client, vals, _own in group])
                partners._kleer_prime_created([own for _client, _vals, own in group])
                Partner.env.flush_all()
            return [(c, pid, own) for (c, _v, own), pid in zip(group, partners.ids, strict=True)]
        except Exception:  # noqa: BLE001 - find the bad record(s) one by one
            Partner.env.invalidate_all()
        created = []
        for client, vals, own in group:
            try:
                partner = self._kleer_customer_create(company, Partner, client, vals, own, maps)
                created.append((client, partner.id, own))
            except Exception as exc:  # noqa: BLE001
                Partner.env.invalidate_all()
                fail(client, exc)
        return created

    @api.model
    def _kleer_customer_create(self, company, Partner, client, vals, own, maps):
        """One partner; a VAT number Odoo's check refuses is kept as Kleer
        has it (see ``_ClientMaps.vat_refused``), with a warning."""
        try:
            with Partner.env.cr.savepoint():
                partner = Partner.create(vals)
                partner._kleer_prime_created([own])
                Partner.env.flush_all()
            return partner
        except ValidationError:
            Partner.env.invalidate_all()
            if not maps.vat_refused(vals):
                raise
        with Partner.env.cr.savepoint():
            partner = Partner.with_context(no_vat_validation=True).create(vals)
            partner._kleer_prime_created([own])
            Partner.env.flush_all()
        self._kleer_log_vat_refused(company, partner, client)
        return partner

    @api.model
    def _kleer_log_vat_refused(self, company, partner, client):
        message = self.env._(
            "Odoo's VAT check refuses the VAT number %(vat)s of this Kleer client; the "
            "customer was taken in with the number as Kleer has it. Check it, in Kleer "
            "or in Odoo.",
            vat=client.vat_nr,
        )
        self._kleer_log_client(company, partner, client, "open", "validation", message)

    @api.model
    def _kleer_log_conflict(self, company, partner, client, current, diff):
        lines = [
            self.env._(
                "%(field)s: Kleer %(kleer)r, Odoo %(odoo)r",
                field=key,
                kleer=value,
                odoo=current.get(key),
            )
            for key, value in diff.items()
            if key in CANON_KEYS
        ]
        message = self.env._(
            "Changed in both Odoo and Kleer since the last sync: Odoo's values win "
            "and are sent to Kleer. Kleer's values were:\n%(lines)s",
            lines="\n".join(lines),
        )
        self._kleer_log_client(company, partner, client, "done", "conflict", message)

    @api.model
    def _kleer_log_client(self, company, partner, client, state, error_kind, message):
        """A warning about one pulled client, in the sync log."""
        self.env["kleer.log"]._log_isolated(
            {
                "company_id": company.id,
                "direction": "in",
                "operation": "pull",
                "res_model": "res.partner",
                "res_id": partner.id,
                "record_name": partner.display_name,
                "kleer_id": client.id,
                "level": "warning",
                "state": state,
                "error_kind": error_kind,
                "message": message,
            }
        )

    # -- Odoo -> Kleer -----------------------------------------------------------

    @api.model
    def _kleer_customers_push(self, company, run):
        """Queue a push for each customer whose mapped values changed since
        its last sync (or that never went to Kleer)."""
        env = self.with_context(**NO_MAIL).with_company(company).env
        last = self._last_success(company, "customers")
        env["res.partner"].flush_model()
        env.cr.execute(
            """
            SELECT p.id FROM res_partner p
             WHERE p.parent_id IS NULL AND (p.company_id IS NULL OR p.company_id = %(cid)s)
               AND (p.active OR COALESCE((p.kleer_client_id->>%(c)s)::int, 0) > 0)
               AND (p.customer_rank > 0 OR EXISTS (
                        SELECT 1 FROM account_move m
                         WHERE m.commercial_partner_id = p.id AND m.company_id = %(cid)s
                           AND m.move_type IN ('out_invoice', 'out_refund')
                           AND m.state = 'posted'))
               AND (COALESCE(p.kleer_sync_hash->>%(c)s, '') = ''
                    OR %(since)s IS NULL OR p.write_date >= %(since)s)
          ORDER BY p.id
            """,
            {
                "c": str(company.id),
                "cid": company.id,
                # A margin for writes committed while the last run was going.
                "since": last - timedelta(minutes=10) if last else None,
            },
        )
        candidate_ids = [row[0] for row in env.cr.fetchall()]
        Partner = env["res.partner"]
        tag_entries = Partner._kleer_tag_entries(company)
        queued = 0
        for ids in split_every(SLICE, candidate_ids, list):
            partners = Partner.browse(ids)
            canon = partners._kleer_canon(company, tag_entries)
            todo = partners.filtered(
                lambda p, canon=canon: (
                    canon_hash(canon[p.id]) != split_hash(p.kleer_sync_hash)[0]
                    and (p.active or p.kleer_client_id)
                )
            )
            if todo:
                env["kleer.job"]._enqueue(todo, "push", company=company)
                queued += len(todo)
            env.cr.commit()  # pylint: disable=invalid-commit  # the sync's own cursor
            env.invalidate_all()
        return self.env._("Odoo to Kleer: %(n)s queued", n=queued)
