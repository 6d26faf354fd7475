"""Generate kleer_connector/README.rst from the readme/ fragments, the way
OCA's ``oca-gen-addon-readme`` (OCA/maintainer-tools) does; that tool needs
pandoc and is not installed here.

    python3 tools/gen_readme.py           # write README.rst
    python3 tools/gen_readme.py --check   # exit 1 if README.rst is not what the fragments give

Layout of OCA's template (gen_addon_readme.rst.jinja): the manifest's name as
title, maturity and license badges, DESCRIPTION, the alpha warning, a table of
contents, then one section per fragment in OCA's order (CONTEXT, INSTALL,
CONFIGURE, USAGE, DEVELOP, ROADMAP, HISTORY) and Credits (authors from the
manifest, CONTRIBUTORS, CREDITS). Left out: the Bug Tracker and Maintainers
sections, which name the addon's GitHub repository (it has none).

Fragments stay Markdown (``readme/NAME.md``, as OCA writes them today); the
subset they use (headings, paragraphs, lists, ``code``, **bold**, *italic*,
[links](url), an image alone on its line) is converted here, where OCA calls
pandoc. The result is checked with docutils, with OCA's settings (a warning
fails), when docutils is there.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

ADDON = Path(__file__).resolve().parent.parent / "kleer_connector"

# (fragment, section title); OCA's order and titles.
SECTIONS = (
    ("CONTEXT", "Use Cases / Context"),
    ("INSTALL", "Installation"),
    ("CONFIGURE", "Configuration"),
    ("USAGE", "Usage"),
    ("DEVELOP", "Development"),
    ("ROADMAP", "Known issues / Roadmap"),
    ("HISTORY", "Changelog"),
)
CREDITS = (("CONTRIBUTORS", "Contributors"), ("CREDITS", "Other credits"))
# Section underlines by level: "=" for the sections, "-" below them, as pandoc
# writes Markdown "##" and OCA's template its Credits subsections.
UNDERLINES = "=-~^'"

MATURITY_BADGES = {
    "alpha": ("https://img.shields.io/badge/maturity-Alpha-red.png", "Alpha"),
    "beta": ("https://img.shields.io/badge/maturity-Beta-yellow.png", "Beta"),
    "production/stable": (
        "https://img.shields.io/badge/maturity-Production%2FStable-green.png",
        "Production/Stable",
    ),
    "mature": ("https://img.shields.io/badge/maturity-Mature-brightgreen.png", "Mature"),
}
LICENSE_BADGES = {
    "LGPL-3": (
        "https://img.shields.io/badge/license-LGPL--3-blue.png",
        "http://www.gnu.org/licenses/lgpl-3.0-standalone.html",
    ),
    "AGPL-3": (
        "https://img.shields.io/badge/license-AGPL--3-blue.png",
        "http://www.gnu.org/licenses/agpl-3.0-standalone.html",
    ),
}

# OCA's check_rst settings (from pypa/readme_renderer): a docutils warning fails.
RST_SETTINGS = {
    "file_insertion_enabled": False,
    "halt_level": 2,
    "raw_enabled": False,
    "report_level": 2,
    "output_encoding": "utf-8",
}

LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)]) ")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)\)\s*$")  # an image alone on its line


def inline(text):
    """Markdown inline markup to reStructuredText (code, links; bold and
    italic are written alike)."""
    parts = re.split(r"(`[^`]+`)", text)
    for i, part in enumerate(parts):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            parts[i] = f"``{part[1:-1]}``"
        else:
            parts[i] = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"`\1 <\2>`__", part)
    return "".join(parts)


def md_to_rst(markdown, shift=0):
    """The Markdown subset of the fragments as reStructuredText. ``shift``
    lowers the headings, as pandoc's ``--shift-heading-level-by``."""
    out = []
    in_list = False
    for line in markdown.splitlines():
        heading = HEADING.match(line)
        if heading:
            level = min(len(heading.group(1)) - 1 + shift, len(UNDERLINES) - 1)
            title = inline(heading.group(2))
            if out and out[-1]:
                out.append("")
            out += [title, UNDERLINES[level] * len(title), ""]
            in_list = False
            continue
        if not line.strip():
            if out and out[-1]:
                out.append("")
            in_list = False
            continue
        image = IMAGE.match(line)
        if image:
            # A fragment's path is from readme/; README.rst sits one folder up.
            alt, path = image.group(1), image.group(2).removeprefix("../")
            if out and out[-1]:
                out.append("")
            out += [f".. image:: {path}", f"   :alt: {alt}", ""]
            in_list = False
            continue
        if LIST_ITEM.match(line):
            # Markdown lets a list follow a paragraph line; reST wants a blank.
            if out and out[-1] and not in_list:
                out.append("")
            in_list = True
        elif in_list and not line.startswith(" "):
            line = "  " + line  # a lazy continuation of the item
        out.append(inline(line))
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def read_fragments(addon=ADDON):
    fragments = {}
    for path in sorted((addon / "readme").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if text.strip():
            shift = 1 if path.stem in dict(CREDITS) else 0
            fragments[path.stem] = md_to_rst(text, shift)
    rst = sorted(p.name for p in (addon / "readme").glob("*.rst"))
    if rst:
        raise SystemExit(f"readme/ holds .rst fragments ({', '.join(rst)}): write them as .md")
    return fragments


def section(title, body, underline="="):
    return f"{title}\n{underline * len(title)}\n\n{body}\n"


def render(addon=ADDON):
    manifest = ast.literal_eval((addon / "__manifest__.py").read_text(encoding="utf-8"))
    fragments = read_fragments(addon)
    name = manifest["name"]
    parts = [
        f"{'=' * len(name)}\n{name}\n{'=' * len(name)}\n",
        "..\n"
        "   !! Generated by tools/gen_readme.py from readme/*.md and the manifest\n"
        "   !! (the layout of OCA's oca-gen-addon-readme): edit those, then run it.\n",
    ]
    badges = []
    status = manifest.get("development_status", "Beta").lower()
    if status in MATURITY_BADGES:
        image, alt = MATURITY_BADGES[status]
        target = "https://odoo-community.org/page/development-status"
        badges.append((image, target, alt))
    if manifest.get("license") in LICENSE_BADGES:
        image, target = LICENSE_BADGES[manifest["license"]]
        badges.append((image, target, f"License: {manifest['license']}"))
    if badges:
        parts.append(
            "".join(
                f".. |badge{i}| image:: {image}\n    :target: {target}\n    :alt: {alt}\n"
                for i, (image, target, alt) in enumerate(badges, 1)
            )
            + "\n"
            + " ".join(f"|badge{i}|" for i in range(1, len(badges) + 1))
            + "\n"
        )
    if "DESCRIPTION" in fragments:
        parts.append(fragments["DESCRIPTION"])
    if status == "alpha":
        parts.append(
            ".. IMPORTANT::\n"
            "   An alpha version: its data model and design may still change.\n"
            "   Try it on a test database before production.\n"
        )
    parts.append("**Table of contents**\n\n.. contents::\n   :local:\n")
    for key, title in SECTIONS:
        if key in fragments:
            parts.append(section(title, fragments[key]).rstrip("\n") + "\n")
    credits = []
    authors = [a.strip() for a in manifest.get("author", "").split(",") if a.strip()]
    if authors:
        credits.append(section("Authors", "".join(f"* {a}\n" for a in authors), "-"))
    for key, title in CREDITS:
        if key in fragments:
            credits.append(section(title, fragments[key], "-"))
    if credits:
        parts.append("Credits\n=======\n\n" + "\n".join(c.rstrip("\n") + "\n" for c in credits))
    return "\n".join(parts)


def check_rst(text):
    """Publish it as OCA's check_rst does; a docutils warning raises."""
    try:
        from docutils.core import publish_string
    except ImportError:  # docutils comes with Odoo's .venv; without it, no check
        return
    publish_string(text, writer_name="html4css1", settings_overrides=RST_SETTINGS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if README.rst is stale"
    )
    args = parser.parse_args(argv)
    readme = ADDON / "README.rst"
    text = render()
    check_rst(text)
    if args.check:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            print(
                f"{readme.relative_to(ADDON.parent)} is not generated from readme/: "
                "run python3 tools/gen_readme.py",
                file=sys.stderr,
            )
            return 1
        print("README.rst: up to date")
        return 0
    readme.write_text(text, encoding="utf-8")
    print(f"wrote {readme.relative_to(ADDON.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
