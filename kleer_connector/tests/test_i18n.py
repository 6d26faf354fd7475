"""Swedish: every term the addon defines is translated in sv.po, the shipped
.pot is the current one, and Odoo loads the translations."""

import re

import polib

from odoo.tests import tagged
from odoo.tests.common import TransactionCase
from odoo.tools.misc import file_path
from odoo.tools.translate import TranslationModuleReader

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
