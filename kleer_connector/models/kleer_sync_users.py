"""Users from Kleer, mirrored in ``kleer.user`` (an invoice's "our reference")."""

from odoo import api, models

from .errors import KleerMappingError

NO_MAIL = {"tracking_disable": True, "mail_notrack": True, "active_test": False}


class KleerSync(models.AbstractModel):
    _inherit = "kleer.sync"

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


class KleerUser(models.Model):
    _inherit = "kleer.user"

    @api.model
    def _kleer_job_pull(self, job, run):
        company = job.company_id
        found = [u for u in run.client(company).users() if u.id == job.kleer_ref]
        if not found:
            raise KleerMappingError(
                job.env._("Kleer has no user %(id)s any more.", id=job.kleer_ref)
            )
        message = self.env["kleer.sync"]._kleer_users_apply(company, found, raise_errors=True)
        return {"kleer_id": job.kleer_ref, "message": message}
