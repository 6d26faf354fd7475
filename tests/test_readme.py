"""kleer_connector/README.rst is generated from readme/*.md (tools/gen_readme.py,
OCA's layout), never written by hand: the committed file is what the fragments give."""

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gen_readme", ROOT / "tools" / "gen_readme.py")
gen_readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_readme)


def test_committed_readme_is_the_generated_one():
    committed = (ROOT / "kleer_connector" / "README.rst").read_text(encoding="utf-8")
    assert committed == gen_readme.render(), "stale README.rst: run python3 tools/gen_readme.py"
    assert gen_readme.main(["--check"]) == 0


def test_sections_in_ocas_order_with_every_fragment():
    text = gen_readme.render()
    titles = ["Kleer Connector", "Table of contents", "Configuration", "Usage"]
    titles += ["Known issues / Roadmap", "Credits", "Authors", "Contributors"]
    positions = [text.index(title) for title in titles]
    assert positions == sorted(positions)
    for fragment in (ROOT / "kleer_connector" / "readme").glob("*.md"):
        first_line = fragment.read_text(encoding="utf-8").strip().splitlines()[0]
        assert gen_readme.inline(first_line.lstrip("#- ").strip()) in text, fragment.name


def test_an_edited_fragment_makes_it_stale(tmp_path):
    addon = tmp_path / "kleer_connector"
    shutil.copytree(ROOT / "kleer_connector" / "readme", addon / "readme")
    shutil.copy(ROOT / "kleer_connector" / "__manifest__.py", addon)
    assert gen_readme.render(addon) == gen_readme.render()
    with (addon / "readme" / "ROADMAP.md").open("a", encoding="utf-8") as f:
        f.write("- One more known issue.\n")
    assert "- One more known issue." in gen_readme.render(addon)
    assert gen_readme.render(addon) != gen_readme.render()


def test_markdown_subset_becomes_valid_rst():
    md = (
        "Intro with `code` and a [link](https://example.com).\n"
        "- an item right after a paragraph\n"
        "lazily continued\n"
        "  and indented\n"
        "\n\n"
        "## A heading\n"
        "\n"
        "**Bold** and *italic*.\n"
    )
    rst = gen_readme.md_to_rst(md)
    assert rst == (
        "Intro with ``code`` and a `link <https://example.com>`__.\n"
        "\n"
        "- an item right after a paragraph\n"
        "  lazily continued\n"
        "  and indented\n"
        "\n"
        "A heading\n"
        "---------\n"
        "\n"
        "**Bold** and *italic*.\n"
    )
    gen_readme.check_rst("Title\n=====\n\n" + rst)


def test_an_image_alone_on_its_line_becomes_an_image_directive():
    # The fragment's path is from readme/; README.rst sits one folder up.
    md = "Text.\n![A refused invoice](../static/description/x.png)\nMore.\n"
    rst = gen_readme.md_to_rst(md)
    assert rst == (
        "Text.\n\n.. image:: static/description/x.png\n   :alt: A refused invoice\n\nMore.\n"
    )
    gen_readme.check_rst("Title\n=====\n\n" + rst)


def test_invalid_rst_is_refused():
    pytest.importorskip("docutils")
    with pytest.raises(Exception, match="Bullet list ends without a blank line"):
        gen_readme.check_rst("Title\n=====\n\n- item\nnot indented\n")
