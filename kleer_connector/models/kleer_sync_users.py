"""Users and categories from Kleer."""

from odoo import api, models

from .errors import KleerMappingError

NO_MAIL = {"tracking_disable": True, "mail_notrack": True, "active_test": False}


class KleerSync(models.AbstractModel):
    _inherit = "kleer.sync"

    # -- users ---------------------------------------------------------------

    @api.model
    def _kleer_sync_users(self, company, run):
        return self._kleer_users_apply(company, run.client(company).users(), full=True)

    @api.model
    def _kleer_users_apply(self, company, users, full=False, raise_errors=False):
        """Mirror Kleer users in ``kleer.user``; link each to the Odoo user
        with the same email (unless the link was set by hand). With ``full``,
        users gone from Kleer are archived."""
        env = self.with_context(**NO_MAIL).env
        Mirror = env["kleer.user"]
        existing = {u.kleer_id: u for u in Mirror.search([("company_id", "=", company.id)])}
        by_email = {}
        # Only users of this company: a Kleer user is never linked to
        # someone who cannot work in it.
        users_of_company = env["res.users"].search(
            [("share", "=", False), ("company_ids", "in", company.id)], order="id"
        )
        for user in users_of_company:
            for email in {(user.email or "").strip().lower(), (user.login or "").strip().lower()}:
                if "@" in email:
                    by_email.setdefault(email, user.id)
        created = updated = failed = 0
        new_vals = []
        seen = set()
        for kuser in users:
            seen.add(kuser.id)
            try:
                with env.cr.savepoint():
                    email = (kuser.email or "").strip()
                    vals = {
                        "name": kuser.name or email or str(kuser.id),
                        "email": email or False,
                        "active": bool(kuser.active),
                    }
                    record = existing.get(kuser.id)
                    if not record or not record.user_locked:
                        vals["user_id"] = by_email.get(email.lower(), False)
                    if record:
                        diff = {
                            k: v
                            for k, v in vals.items()
                            if (record[k].id if k == "user_id" else record[k]) != v
                        }
                        if diff:
                            record.write(diff)
                            updated += 1
                    else:
                        new_vals.append(dict(vals, kleer_id=kuser.id, company_id=company.id))
            except Exception as exc:  # noqa: BLE001 - logged, the rest go on
                if raise_errors:
                    raise
                failed += 1
                env["kleer.job"]._record_pull_failure(
                    company, "kleer.user", "pull", kuser.id, exc, kuser.name
                )
        if new_vals:
            Mirror.create(new_vals)
            created = len(new_vals)
        archived = 0
        if full:
            gone = Mirror.browse(
                [u.id for kid, u in existing.items() if kid not in seen and u.active]
            )
            gone.write({"active": False})
            archived = len(gone)
        return self.env._(
            "%(c)s created, %(u)s updated, %(a)s archived, %(f)s failed",
            c=created,
            u=updated,
            a=archived,
            f=failed,
        )

    # -- categories ----------------------------------------------------------

    @api.model
    def _kleer_sync_categories(self, company, run):
        client = run.client(company)
        stats = dict(created=0, updated=0, failed=0)
        for dimension in client.dimensions():
            try:
                with self.env.cr.savepoint():
                    self._kleer_dimension_apply(
                        company, dimension, client.dimension_entries(dimension.id), stats
                    )
            except Exception as exc:  # noqa: BLE001 - logged, the rest go on
                stats["failed"] += 1
                self.env["kleer.job"]._record_pull_failure(
                    company, "res.partner.category", "pull", dimension.id, exc, dimension.name
                )
        return self.env._("%(created)s created, %(updated)s updated, %(failed)s failed", **stats)

    @api.model
    def _kleer_dimension_apply(self, company, dimension, entries, stats):
        """A dimension becomes a parent tag, its entries child tags, each
        keeping its Kleer id in this company. Unlinked tags with the same name
        are adopted rather than duplicated."""
        Tag = self.env["res.partner.category"].with_company(company).with_context(**NO_MAIL)
        tags = Tag.search([])
        parent = tags.filtered(
            lambda t: t.kleer_dimension_id == dimension.id and not t.kleer_entry_id
        )[:1]
        if not parent:
            parent = tags.filtered(
                lambda t: not t.parent_id and not t.kleer_dimension_id and t.name == dimension.name
            )[:1]
        parent = self._kleer_tag_write(
            Tag,
            parent,
            {
                "name": dimension.name,
                "active": bool(dimension.active),
                "parent_id": False,
                "kleer_dimension_id": dimension.id,
            },
            stats,
        )
        for entry in entries:
            if not entry.name:
                raise KleerMappingError(
                    self.env._("Kleer dimension entry %(id)s has no name.", id=entry.id)
                )
            tag = tags.filtered(lambda t, e=entry: t.kleer_entry_id == e.id)[:1]
            if not tag:
                tag = tags.filtered(
                    lambda t, e=entry: (
                        t.parent_id == parent and not t.kleer_entry_id and t.name == e.name
                    )
                )[:1]
            self._kleer_tag_write(
                Tag,
                tag,
                {
                    "name": entry.name,
                    "active": bool(entry.active),
                    "parent_id": parent.id,
                    "kleer_entry_id": entry.id,
                    "kleer_dimension_id": dimension.id,
                },
                stats,
            )

    @api.model
    def _kleer_tag_write(self, Tag, tag, vals, stats):
        if not tag:
            stats["created"] += 1
            return Tag.create(vals)
        diff = {k: v for k, v in vals.items() if (tag[k].id if k == "parent_id" else tag[k]) != v}
        if diff:
            tag.write(diff)
            stats["updated"] += 1
        return tag


class KleerUser(models.Model):
    _inherit = "kleer.user"

    @api.model
    def _kleer_job_pull(self, job, run):
        company = job.company_id
        found = [u for u in run.client(company).users() if u.id == job.kleer_ref]
        if not found:
            raise KleerMappingError(
                self.env._("Kleer has no user %(id)s any more.", id=job.kleer_ref)
            )
        message = self.env["kleer.sync"]._kleer_users_apply(company, found, raise_errors=True)
        return {"kleer_id": job.kleer_ref, "message": message}


class ResPartnerCategory(models.Model):
    _inherit = "res.partner.category"

    @api.model
    def _kleer_job_pull(self, job, run):
        company = job.company_id
        client = run.client(company)
        found = [d for d in client.dimensions() if d.id == job.kleer_ref]
        if not found:
            raise KleerMappingError(
                self.env._("Kleer has no dimension %(id)s any more.", id=job.kleer_ref)
            )
        stats = dict(created=0, updated=0, failed=0)
        self.env["kleer.sync"]._kleer_dimension_apply(
            company, found[0], client.dimension_entries(found[0].id), stats
        )
        return {
            "kleer_id": job.kleer_ref,
            "message": self.env._("%(created)s created, %(updated)s updated", **stats),
        }
