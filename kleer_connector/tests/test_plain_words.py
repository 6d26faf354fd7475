"""One verb per action and no technical values in sight, as the billing user
sees the invoice, the queue and the log: which buttons a state shows (their
`invisible` evaluated for that state), operations as words, ids without
thousand separators, times in the reader's zone to the minute."""

from datetime import timedelta

import polib

from odoo.tests import tagged
from odoo.tools.misc import file_path
from odoo.tools.safe_eval import safe_eval

from ..models.kleer_labels import operation_label
from ..models.kleer_operations import LOG_ONLY, OPERATIONS
from .test_ui import BillingUserCase


def shown(node, values):
    """Whether ``node`` is visible for a record with ``values`` (its own and
    its ancestors' `invisible`)."""
    while node is not None:
        if node.get("invisible") and safe_eval(node.get("invisible"), dict(values)):
            return False
        node = node.getparent()
    return True


@tagged("post_install", "-at_install")
class TestPlainWords(BillingUserCase):
    def buttons(self, model, values, names):
        arch = self.arch(self.billing, model, "form")
        return sorted(
            button.get("string")
            for name in names
            for button in arch.xpath(f"//button[@name='{name}']")
            if shown(button, values)
        )

    def test_a_failed_invoice_and_its_job_say_reprocess_once(self):
        invoice = {
            "state": "posted",
            "move_type": "out_invoice",
            "kleer_certified": False,
            "kleer_retry_note": False,
        }
        send = ["action_kleer_send"]
        for kleer_state in ("failed", "mismatch"):
            with self.subTest(kleer_state=kleer_state):
                values = dict(invoice, kleer_state=kleer_state)
                self.assertEqual(self.buttons("account.move", values, send), ["Reprocess"])
        for kleer_state in ("not_sent", "ignored", False):
            values = dict(invoice, kleer_state=kleer_state)
            self.assertEqual(self.buttons("account.move", values, send), ["Send to Kleer"])

        run = ["action_process_now", "action_reprocess"]
        job = {"res_id": 1}
        self.assertEqual(self.buttons("kleer.job", dict(job, state="failed"), run), ["Reprocess"])
        self.assertEqual(
            self.buttons("kleer.job", dict(job, state="pending"), run), ["Process now"]
        )
        log = {"job_id": 1, "res_id": 1, "state": "open"}
        self.assertEqual(self.buttons("kleer.log", log, ["action_reprocess"]), ["Reprocess"])

    def test_operations_read_as_words(self):
        move = self.failed_invoice()
        log = self.open_log(move).with_user(self.billing)
        job = self.job_of(move).with_user(self.billing)
        self.assertEqual(log.summary, f"Send invoice: {move.name}")
        self.assertEqual(job.display_name, f"Send invoice: {move.name}")
        self.assertEqual(log.operation_label, "Send invoice")
        for model in ("kleer.log", "kleer.job"):
            for view_type in ("list", "form"):
                arch = self.arch(self.billing, model, view_type)
                self.assertTrue(arch.xpath("//field[@name='operation_label']"))
                self.assertFalse(arch.xpath("//field[@name='operation']"), (model, view_type))

    def test_every_operation_has_words_also_in_swedish(self):
        self.env["res.lang"]._activate_lang("sv_SE")
        sv_env = self.env(context={"lang": "sv_SE"})
        po = polib.pofile(file_path("kleer_connector/i18n/sv.po"))
        swedish = {entry.msgid: entry.msgstr for entry in po if not entry.obsolete}
        pairs = list(OPERATIONS) + [(None, operation) for operation in LOG_ONLY]
        for model, operation in pairs:
            with self.subTest(model=model, operation=operation):
                english = operation_label(self.env, operation, model)
                self.assertNotIn(english, ("", operation), "no words, only the code")
                self.assertTrue(swedish.get(english))
                self.assertEqual(operation_label(sv_env, operation, model), swedish[english])
        self.assertEqual(operation_label(self.env, "pull", "res.partner"), "Fetch customer")
        self.assertEqual(operation_label(self.env, "pull", "res.country"), "Fetch from Kleer")
        self.assertEqual(operation_label(self.env, "bogus", "res.partner"), "bogus")

        # As a Swedish billing user reads the queue and the log, after an
        # English one (the words are not kept from the first reader).
        move = self.failed_invoice()
        log = self.open_log(move).with_user(self.billing)
        job = self.job_of(move).with_user(self.billing)
        self.assertEqual(log.display_name, f"Send invoice: {move.name}")
        self.assertEqual(job.display_name, f"Send invoice: {move.name}")
        log, job = (rec.with_context(lang="sv_SE") for rec in (log, job))
        self.assertEqual(log.operation_label, "Skicka faktura")
        self.assertEqual(log.summary, f"Skicka faktura: {move.name}")
        self.assertEqual(log.display_name, f"Skicka faktura: {move.name}")
        self.assertEqual(job.display_name, f"Skicka faktura: {move.name}")

    def test_technical_values_out_of_sight(self):
        job_form = self.arch(self.billing, "kleer.job", "form")
        [check] = job_form.xpath("//field[@name='check_remote']")
        self.assertEqual(check.get("string"), "May exist in Kleer")
        self.assertFalse(shown(check, {"check_remote": False}))
        [kleer_id] = job_form.xpath("//field[@name='kleer_id']")
        self.assertFalse(shown(kleer_id, {"kleer_id": 0}), "no 'Kleer id 0'")
        log_form = self.arch(self.billing, "kleer.log", "form")
        [status] = log_form.xpath("//field[@name='http_status']")
        self.assertFalse(shown(status, {"http_status": 200}), "a 200 is no error")
        self.assertTrue(shown(status, {"http_status": 400}))
        # Ids without thousand separators (1234567, not 1,234,567).
        for model, view_type, field in [
            ("kleer.log", "list", "kleer_id"),
            ("kleer.log", "form", "kleer_id"),
            ("kleer.job", "list", "kleer_id"),
            ("kleer.job", "form", "kleer_id"),
            ("kleer.job", "form", "kleer_ref"),
            ("account.move", "form", "kleer_invoice_id"),
            ("res.partner", "form", "kleer_client_id"),
        ]:
            with self.subTest(model=model, field=field):
                nodes = self.arch(self.billing, model, view_type).xpath(f"//field[@name='{field}']")
                self.assertTrue(nodes)
                for node in nodes:
                    # The web client reads options as JavaScript-like Python (false).
                    options = safe_eval(node.get("options") or "{}", {"false": False})
                    self.assertIs(options.get("enable_formatting"), False)

    def test_retry_time_in_the_readers_zone_to_the_minute(self):
        self.billing.tz = "Asia/Tokyo"
        self.sandbox.faults.add("status", method="PUT", path="^/client/invoice$", status=503)
        env = self.env
        self.env = env(user=self.billing)
        try:
            move = self.make_invoice([{"product_id": self.consulting, "taxes": [self.vat25]}])
        finally:
            self.env = env
        self.process_queue()
        job = self.job_of(move)
        [entry] = job.log_ids.filtered(lambda log: log.level == "warning")
        local = job.next_try + timedelta(hours=9)
        self.assertTrue(
            entry.message.endswith(f"(will retry at {local:%Y-%m-%d %H:%M} JST)"), entry.message
        )
