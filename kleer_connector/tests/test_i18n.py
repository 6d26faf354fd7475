"""Swedish: every term the addon defines is translated in sv.po, the shipped
.pot is the current one, Odoo loads the translations, and queue messages are
written in the language of who reads them."""

import re
from datetime import datetime

import polib

from odoo.tests import tagged
from odoo.tests.common import TransactionCase
from odoo.tools.misc import file_path
from odoo.tools.translate import TranslationModuleReader

from .test_invoice_common import InvoiceCase

MODULE = "kleer_connector"
PLACEHOLDER = re.compile(r"%(?:\([a-z_]+\))?[srd%]")


def shipped(name):
    return polib.pofile(file_path(f"{MODULE}/i18n/{name}"))


@tagged("post_install", "-at_install")
class TestTranslationFiles(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # What Odoo's own export (--i18n-export) would write now, in memory.
        cls.terms = {
            source
            for module, _type, _name, _res_id, source, _value, _comments in (
                TranslationModuleReader(cls.env.cr, modules=[MODULE])
            )
            if module == MODULE and source
        }

    def test_every_term_has_a_swedish_translation(self):
        self.assertGreater(len(self.terms), 200)
        sv = {entry.msgid: entry for entry in shipped("sv.po") if not entry.obsolete}
        missing = sorted(term for term in self.terms if not (sv.get(term) and sv[term].msgstr))
        self.assertFalse(missing, "untranslated in i18n/sv.po (run tools/i18n_update.py)")
        fuzzy = sorted(term for term in self.terms if "fuzzy" in sv[term].flags)
        self.assertFalse(fuzzy, "fuzzy in i18n/sv.po")

    def test_translations_keep_their_placeholders(self):
        # A lost or renamed %(name)s makes Odoo fall back to English, with an error.
        broken = [
            entry.msgid
            for entry in shipped("sv.po")
            if sorted(PLACEHOLDER.findall(entry.msgid)) != sorted(PLACEHOLDER.findall(entry.msgstr))
        ]
        self.assertFalse(broken, "placeholders differ in i18n/sv.po")

    def test_pot_is_current(self):
        pot = {entry.msgid for entry in shipped(f"{MODULE}.pot") if entry.msgid}
        self.assertEqual(
            sorted(self.terms - pot), [], "terms missing from the .pot (tools/i18n_update.py)"
        )
        self.assertEqual(sorted(pot - self.terms), [], "terms in the .pot the addon lost")

    def test_odoo_loads_the_swedish_terms(self):
        self.env["res.lang"]._activate_lang("sv_SE")
        self.env.ref(f"base.module_{MODULE}")._update_translations(["sv_SE"])
        sv = self.env(context={"lang": "sv_SE"})
        self.assertEqual(
            sv["account.move"].fields_get(["kleer_state"])["kleer_state"]["string"], "Kleer-status"
        )
        arch = sv["account.move"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("Skicka till Kleer", arch)
        self.assertEqual(sv.ref(f"{MODULE}.action_kleer_log_open").name, "Kleer-logg")
        self.assertEqual(sv.ref(f"{MODULE}.menu_kleer_log").name, "Synkroniseringslogg")


@tagged("post_install", "-at_install")
class TestMessagesInTheReadersLanguage(InvoiceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("sv_SE")
        # Odoo's own Swedish units, so a unit name sent in Swedish would show.
        cls.env.ref("base.module_uom")._update_translations(["sv_SE"])
        cls.admin_env = cls.env
        cls.anna = cls.billing_user("Anna Fakturerare", "sv_SE")
        cls.bob = cls.billing_user("Bob Biller", "en_US")

    @classmethod
    def billing_user(cls, name, lang):
        return (
            cls.env["res.users"]
            .with_context(no_reset_password=True)
            .create(
                {
                    "name": name,
                    "login": name.split()[0].lower(),
                    "lang": lang,
                    "company_id": cls.company.id,
                    "company_ids": [(6, 0, cls.company.ids)],
                    "groups_id": [(6, 0, [cls.env.ref("account.group_account_invoice").id])],
                }
            )
        )

    def invoice_by(self, user, lines=None, partner=None):
        """Created and confirmed by ``user`` through the form, in their language."""
        self.env = self.admin_env(user=user, context=dict(self.admin_env.context, lang=user.lang))
        try:
            move = self.make_invoice(
                lines or [{"product_id": self.consulting, "quantity": 1, "taxes": self.vat25}],
                partner=partner,
            )
        finally:
            self.env = self.admin_env
        return move.with_env(self.env)

    def chatter(self, move):
        return move.message_ids.mapped("body")

    def test_failure_reads_swedish_for_a_swedish_creator(self):
        swedish = self.invoice_by(self.anna)
        english = self.invoice_by(self.bob)
        self.company.kleer_token = False
        self.process_queue()
        for move in swedish | english:
            self.assertEqual(move.kleer_state, "failed")
        self.assertIn(
            "Kleer är inte konfigurerat för Kleer Faktura AB.", self.open_log(swedish).message
        )
        self.assertTrue(
            any(
                "Kleer: sändningen misslyckades: Kleer är inte konfigurerat" in b
                for b in self.chatter(swedish)
            ),
            self.chatter(swedish),
        )
        self.assertIn(
            "Kleer is not configured for Kleer Faktura AB.", self.open_log(english).message
        )
        self.assertTrue(
            any(
                "Kleer: sending failed: Kleer is not configured" in b for b in self.chatter(english)
            ),
            self.chatter(english),
        )

    def test_retry_and_success_read_swedish_what_kleer_gets_does_not_change(self):
        move = self.invoice_by(self.anna)
        self.sandbox.faults.add("status", method="PUT", path=r"^/client/invoice$", status=503)
        self.process_queue()
        job = self.job_of(move)
        self.assertEqual((job.state, job.error_kind), ("pending", "transient"))
        retry = job.log_ids.sorted("id")[-1]
        self.assertIn("(nytt försök ", retry.message)
        # What Kleer receives does not depend on the reader: units in English.
        job.next_try = False
        self.process_queue()
        self.assertEqual(job.state, "done")
        self.assertEqual(self.last_invoice_xml().findtext(".//row/unit"), "Units")
        sent = f"Skickad till Kleer som utkast (Kleer-id {move.kleer_invoice_id}): attestera den"
        self.assertIn(sent, job.log_ids.sorted("id")[-1].message)
        self.assertTrue(any(sent in body for body in self.chatter(move)), self.chatter(move))

    def test_jobs_without_a_creator_read_in_the_company_language(self):
        job = self.env["kleer.job"].create(
            {
                "company_id": self.company.id,
                "operation": "pull",
                "res_model": "product.product",
                "res_id": 0,
                "kleer_ref": 1,
                "direction": "in",
            }
        )
        self.company.partner_id.lang = "sv_SE"
        self.assertEqual(job._kleer_reader_lang(), "sv_SE")
        self.company.partner_id.lang = "en_US"
        self.assertEqual(job._kleer_reader_lang(), "en_US")

    def test_one_reader_gives_the_language_and_the_time_zone(self):
        self.anna.tz = "Europe/Stockholm"
        self.company.partner_id.write({"lang": "en_US", "tz": "Asia/Tokyo"})
        noon = datetime(2026, 1, 15, 12, 0)
        job = self.job_of(self.invoice_by(self.anna))
        self.assertEqual(job._kleer_reader(), self.anna)
        self.assertEqual(job._kleer_reader_lang(), "sv_SE")
        self.assertEqual(job._kleer_reader_time(noon), "2026-01-15 13:00 CET")
        # Created by the superuser (a cron, an import): nobody, the company's.
        job = self.job_of(self.make_invoice([{"product_id": self.consulting, "quantity": 1}]))
        self.assertFalse(job._kleer_reader())
        self.assertEqual(job._kleer_reader_lang(), "en_US")
        self.assertEqual(job._kleer_reader_time(noon), "2026-01-15 21:00 JST")
        # A record gone meanwhile: nobody either.
        partner = self.env["res.partner"].with_user(self.anna).sudo().create({"name": "Borta AB"})
        job = self.env["kleer.job"]._enqueue(partner, "push")
        self.assertEqual(job._kleer_reader(), self.anna)
        partner.unlink()
        job.invalidate_recordset()
        self.assertFalse(job._kleer_reader())
        self.assertEqual(job._kleer_reader_time(noon), "2026-01-15 21:00 JST")

    def run_by_cron(self, lang):
        """The queue's scheduled action, as "Run manually" runs it: as the
        superuser, whose language is ``lang``."""
        self.env.ref("base.user_root").lang = lang
        self.env.ref("kleer_connector.cron_process_queue").method_direct_trigger()

    def process_now_by(self, user, move):
        """``user`` presses Process now on ``move``'s job. The queue runs as
        the superuser: it gets ``user``'s language, as Odoo's ``_()`` would
        take it from ``user``'s request."""
        self.env.ref("base.user_root").lang = user.lang
        job = self.job_of(move)
        job.with_user(user).with_context(lang=user.lang).action_process_now()

    def assertRefused(self, move, text, chatter_prefix):
        move.invalidate_recordset()
        self.assertEqual(move.kleer_state, "failed")
        self.assertIn(text, move.kleer_last_error)
        self.assertIn(text, self.open_log(move).message)
        self.assertIn(text, move.kleer_activity_id.note)
        note = chatter_prefix + text
        self.assertTrue(any(note in body for body in self.chatter(move)), self.chatter(move))

    def test_refusal_in_the_creators_language_whoever_runs_the_queue(self):
        # No country: the mapping refuses the invoice, nothing reaches Kleer.
        nowhere = self.env["res.partner"].create({"name": "Kund Utan Land", "lang": "en_US"})
        swedish = self.invoice_by(self.anna, partner=nowhere)
        sv_refusal = f"{swedish.display_name}: kunden Kund Utan Land saknar land; Kleer behöver"
        self.run_by_cron("en_US")
        self.assertRefused(swedish, sv_refusal, "Kleer: sändningen misslyckades: ")
        # Bob (English) presses Process now: Anna still reads Swedish.
        self.process_now_by(self.bob, swedish)
        self.assertEqual(self.job_of(swedish).attempts, 2)
        self.assertRefused(swedish, sv_refusal, "Kleer: sändningen misslyckades: ")
        self.assertNotIn("has no country", self.open_log(swedish).message)
        # Bob's own invoice, run by Anna (Swedish): Bob reads English.
        english = self.invoice_by(self.bob, partner=nowhere)
        self.process_now_by(self.anna, english)
        en_refusal = f"{english.display_name}: the customer Kund Utan Land has no country;"
        self.assertRefused(english, en_refusal, "Kleer: sending failed: ")
        self.assertFalse(self.invoice_puts())

    def test_kleer_refusal_reads_in_the_creators_language_with_kleers_own_words(self):
        swedish = self.invoice_by(self.anna)
        english = self.invoice_by(self.bob)
        kleer_says = "Kunden är spärrad för fakturering"
        self.sandbox.faults.add(
            "status",
            method="PUT",
            path=r"^/client/invoice$",
            status=400,
            times=2,
            message=kleer_says,
        )
        self.run_by_cron("en_US")
        # The reason in the reader's words, Kleer's own words verbatim inside.
        sv_text = f"Kleer avvisade anropet ({kleer_says})"
        self.assertRefused(swedish, sv_text, "Kleer: sändningen misslyckades: ")
        self.assertEqual(self.job_of(swedish).last_error, sv_text)
        self.assertEqual(self.job_of(swedish).error_kind, "validation")
        self.assertNotIn("refused", self.open_log(swedish).message)
        en_text = f"Kleer refused the request ({kleer_says})"
        self.assertRefused(english, en_text, "Kleer: sending failed: ")
        self.assertEqual(self.job_of(english).last_error, en_text)

    def test_kleer_error_on_retry_reads_swedish(self):
        move = self.invoice_by(self.anna)
        self.sandbox.faults.add(
            "status", method="PUT", path=r"^/client/invoice$", status=503, message="Tekniskt fel"
        )
        self.run_by_cron("en_US")
        job = self.job_of(move)
        self.assertEqual(job.state, "pending")
        self.assertEqual(job.last_error, "Kleer hade ett tekniskt fel, HTTP 503 (Tekniskt fel)")
        retry = job.log_ids.sorted("id")[-1].message
        self.assertTrue(retry.startswith(f"{job.last_error} (nytt försök "), retry)

    def test_scheduled_sync_failure_reads_in_the_company_language(self):
        self.company.partner_id.lang = "sv_SE"
        self.company.kleer_sync_products = True
        self.sandbox.faults.add(
            "status", method="GET", path="^/product$", status=400, message="Ogiltigt filter"
        )
        self.env.ref("base.user_root").lang = "en_US"
        self.env.ref("kleer_connector.cron_sync_products").method_direct_trigger()
        state = self.env["kleer.sync.state"].search(
            [("company_id", "=", self.company.id), ("sync", "=", "products")]
        )
        self.assertEqual(state.last_message, "Kleer avvisade anropet (Ogiltigt filter)")
        log = self.env["kleer.log"].search(
            [("company_id", "=", self.company.id), ("operation", "=", "sync_products")], limit=1
        )
        self.assertEqual(log.message, "Kleer avvisade anropet (Ogiltigt filter)")
        # "Sync now": its user reads the run's message, in their language.
        self.sandbox.faults.add(
            "status", method="GET", path="^/product$", status=400, message="Ogiltigt filter"
        )
        self.env["kleer.sync"].with_context(lang="en_US")._run_sync("products", self.company)
        state.invalidate_recordset()
        self.assertEqual(state.last_message, "Kleer refused the request (Ogiltigt filter)")

    def test_unreadable_answer_reads_in_the_company_language(self):
        self.company.partner_id.lang = "sv_SE"
        self.company.kleer_sync_products = True
        self.sandbox.faults.add("malformed", method="GET", path="^/product$")
        self.env.ref("base.user_root").lang = "en_US"
        self.env.ref("kleer_connector.cron_sync_products").method_direct_trigger()
        state = self.env["kleer.sync.state"].search(
            [("company_id", "=", self.company.id), ("sync", "=", "products")]
        )
        # The reason in Swedish, what the parser saw (technical) inside.
        self.assertTrue(
            state.last_message.startswith("Kleers svar gick inte att läsa ("), state.last_message
        )

    def test_rounding_row_in_the_customers_language_whoever_runs_the_queue(self):
        self.company.tax_calculation_rounding_method = "round_globally"
        lines = [
            {"name": f"Rad {i}", "quantity": 12.12, "price_unit": 12.12, "taxes": self.vat25}
            for i in range(5)
        ]
        Partner = self.env["res.partner"]
        country = self.customer.country_id.id
        kund = Partner.create({"name": "Svensk Kund", "lang": "sv_SE", "country_id": country})
        customer = Partner.create({"name": "Customer", "lang": "en_US", "country_id": country})
        cases = [
            # (creator, customer, who runs the queue, the row's description)
            (self.bob, kund, lambda move: self.run_by_cron("en_US"), "Momsavrundning (Rad "),
            (self.anna, kund, lambda move: self.process_now_by(self.bob, move), "Momsavrundning ("),
            (self.anna, customer, lambda move: self.run_by_cron("sv_SE"), "VAT rounding (Rad "),
            (self.bob, customer, lambda move: self.process_now_by(self.anna, move), "VAT rounding"),
        ]
        for creator, partner, run, description in cases:
            with self.subTest(creator=creator.name, customer=partner.name):
                move = self.invoice_by(creator, lines, partner)
                run(move)
                self.assertIn(move.kleer_state, ("draft", "certified"))
                # last_invoice_xml validates the body against Kleer's XSD.
                rows = self.last_invoice_xml().findall("rows/row")
                self.assertEqual(len(rows), 6)
                found = rows[-1].findtext("description")
                self.assertTrue(found.startswith(description), found)
                self.assertTotalsEqual(move)
