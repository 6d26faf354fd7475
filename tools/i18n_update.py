"""Refresh the addon's translation template and merge it into sv.po.

1. A throwaway PostgreSQL cluster (pgtmp.py) and database on which
   ``kleer_connector`` is installed (no demo data).
2. ``odoo --i18n-export`` of the module's terms: ``i18n/kleer_connector.pot``,
   exactly as Odoo writes it.
3. ``sv.po`` merged with the new template (polib, like ``msgmerge``: new terms
   come in untranslated, vanished ones are dropped, translations are kept).
4. A report of the Swedish terms still untranslated or fuzzy; exit code 1
   when there are any (``--check`` also fails when the .pot was not current).

Usage: ``.venv/bin/python tools/i18n_update.py [--check]``.
"""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib

sys.path.insert(0, str(Path(__file__).resolve().parent))

from odoo_env import ADDON, ADDON_DIR, REPO, odoo_env  # noqa: E402
from odoo_setup import ensure_all  # noqa: E402
from pgtmp import PgCluster, install_signal_handlers, make_tempdir  # noqa: E402

DB = "kc_i18n"
I18N = ADDON_DIR / "i18n"
POT = I18N / f"{ADDON}.pot"
LANGS = ("sv",)


def odoo_run(odoo, pg, data_dir, *args):
    cmd = odoo.command(pg, DB, data_dir, *args, "--stop-after-init", "--log-level", "warn")
    result = subprocess.run(
        cmd, cwd=REPO, env=odoo_env(), capture_output=True, text=True, check=False
    )
    if result.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stdout}{result.stderr}")


def export_pot(target):
    """Install the addon on a throwaway database and export its terms."""
    odoo = ensure_all()
    tmp = make_tempdir("kleer-i18n-")
    pg = PgCluster(tmp / "pg")
    try:
        pg.start()
        data_dir = tmp / "odoo-data"
        print(f"installing {ADDON} on a throwaway database ...", flush=True)
        odoo_run(odoo, pg, data_dir, "-i", ADDON, "--without-demo=all")
        print("exporting its terms ...", flush=True)
        odoo_run(odoo, pg, data_dir, f"--i18n-export={target}", f"--modules={ADDON}")
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def undated(text):
    return re.sub(r'^"(POT-Creation|PO-Revision)-Date: .*$', "", text, flags=re.M)


def msgids(po):
    return {(entry.msgctxt, entry.msgid) for entry in po if not entry.obsolete}


def merge(lang, pot):
    """Merge ``pot`` into ``<lang>.po``; returns the entries still to translate."""
    path = I18N / f"{lang}.po"
    po = polib.pofile(str(path)) if path.exists() else polib.POFile()
    if not path.exists():
        po.metadata = dict(pot.metadata, Language=lang)
    po.merge(pot)
    # polib's merge keeps vanished terms as obsolete (#~); Odoo never loads them.
    for entry in [e for e in po if e.obsolete]:
        po.remove(entry)
    po.save(str(path))
    return [e for e in po if not e.msgstr or "fuzzy" in e.flags]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="also fail when the shipped .pot was not current"
    )
    args = parser.parse_args(argv)
    install_signal_handlers()
    I18N.mkdir(exist_ok=True)
    old_text = POT.read_text() if POT.exists() else ""
    old = msgids(polib.pofile(old_text)) if old_text else set()
    export_pot(POT)
    if undated(POT.read_text()) == undated(old_text):
        POT.write_text(old_text)  # only the export's dates changed: no diff
    pot = polib.pofile(str(POT))
    new = msgids(pot)
    print(
        f"{POT.relative_to(REPO)}: {len(pot)} terms ({len(new - old)} new, {len(old - new)} gone)"
    )
    ok = not (args.check and new != old)
    for lang in LANGS:
        todo = merge(lang, pot)
        print(f"{lang}.po: {len(todo)} untranslated or fuzzy")
        for entry in todo:
            print(f"  {entry.occurrences[:1]} {entry.msgid!r}")
        ok = ok and not todo
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
