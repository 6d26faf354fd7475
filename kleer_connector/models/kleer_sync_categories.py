"""Categories from Kleer: each Kleer dimension becomes a parent partner tag,
its entries child tags (sent back on invoice rows, see
account_move_kleer_invoice.py)."""

from odoo import api, models

from .errors import KleerMappingError
from .kleer_sync_users import NO_MAIL


class KleerSync(models.AbstractModel):
    _inherit = "kleer.sync"

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


class ResPartnerCategory(models.Model):
    _inherit = "res.partner.category"

    @api.model
    def _kleer_job_pull(self, job, run):
        company = job.company_id
        client = run.client(company)
        found = [d for d in client.dimensions() if d.id == job.kleer_ref]
        if not found:
            raise KleerMappingError(
                job.env._("Kleer has no dimension %(id)s any more.", id=job.kleer_ref)
            )
        stats = dict(created=0, updated=0, failed=0)
        self.env["kleer.sync"]._kleer_dimension_apply(
            company, found[0], client.dimension_entries(found[0].id), stats
        )
        return {
            "kleer_id": job.kleer_ref,
            "message": job.env._("%(created)s created, %(updated)s updated", **stats),
        }
