"""The README is a front page and docs/ its manual: every relative link of either resolves
(file and, for a Markdown page, the heading anchor), every page of docs/ is linked from the
README, every figure of docs/images/ is shown or linked somewhere, and the README stays short."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INDENTED = re.compile(r"^(?: {4}|\t).*$", re.M)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def _prose(text: str) -> str:
    """The text with code blocks and code spans removed (their brackets are not links).
    Every line indented by four spaces counts as code: these pages indent list items'
    continuation lines by two, so no link is lost that way."""
    text = _FENCE.sub("", text)
    text = _INDENTED.sub("", text)
    return _CODE_SPAN.sub("", text)


def links(page: Path) -> list[str]:
    """Every link and image target of a Markdown page, outside code."""
    return _LINK.findall(_prose(page.read_text(encoding="utf-8")))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, duplicates numbered as GitHub numbers them."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(text):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def is_external(target: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) is not None


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` whose file, or heading anchor, does not exist."""
    problems = []
    for target in links(page):
        if is_external(target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{page.name}: {target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{page.name}: {target} (no heading #{anchor} in {resolved.name})")
    return problems


def linked_files(page: Path) -> set[Path]:
    """The files a page links to or shows, resolved."""
    out = set()
    for target in links(page):
        path = target.partition("#")[0]
        if path and not is_external(target):
            out.add((page.parent / path).resolve())
    return out


def unlinked_pages(root: Path) -> list[str]:
    """Pages of ``root/docs`` that the README does not link to."""
    linked = linked_files(root / "README.md")
    return [p.name for p in sorted((root / "docs").glob("*.md")) if p.resolve() not in linked]


def pages(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


# --- the repository's own pages -------------------------------------------------------


def test_every_relative_link_resolves():
    problems = [p for page in pages(ROOT) for p in broken_links(page)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_docs_page_is_linked_from_the_readme():
    assert (ROOT / "docs").is_dir()
    assert not unlinked_pages(ROOT), f"not linked from README.md: {unlinked_pages(ROOT)}"


def test_every_figure_is_shown_or_linked():
    shown = set().union(*(linked_files(page) for page in pages(ROOT)))
    figures = sorted((ROOT / "docs" / "images").glob("*.png"))
    assert figures
    missing = [f.name for f in figures if f.resolve() not in shown]
    assert not missing, f"figures no page shows or links: {missing}"


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    )
    text = "\n".join(lines)
    # the two commands of a fresh machine stay on the front page
    assert "make sweep GLUE_DIR=" in text and "make test GLUE_DIR=" in text


# --- the checks themselves ------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "docs" / "images").mkdir(parents=True)
    (tmp_path / "docs" / "images" / "a.png").write_bytes(b"")
    (tmp_path / "docs" / "one.md").write_text(
        "# One\n\n## Set-up, step by step\n\n## Set-up, step by step\n\n"
        "See [two](two.md) and ![a](images/a.png) and [up](../README.md#front-page).\n"
    )
    (tmp_path / "docs" / "two.md").write_text(
        "# Two: `code` here\n\n[one](one.md#set-up-step-by-step-1)\n"
    )
    (tmp_path / "README.md").write_text(
        "# Front page\n\n[one](docs/one.md), [two](docs/two.md#two-code-here), "
        "[web](https://example.org/x.md)\n\n```\n[not a link](nowhere.md)\n```\n"
        "`[nor this](nowhere.md)`\n\n    [nor this](nowhere.md)\n"
    )
    return tmp_path


def test_a_sound_site_passes(site):
    assert [p for page in pages(site) for p in broken_links(page)] == []
    assert unlinked_pages(site) == []


def test_a_missing_file_fails(site):
    (site / "docs" / "images" / "a.png").unlink()
    assert broken_links(site / "docs" / "one.md") == ["one.md: images/a.png (no such file)"]


def test_a_missing_anchor_fails(site):
    readme = site / "README.md"
    readme.write_text(readme.read_text().replace("#two-code-here", "#two"))
    assert broken_links(readme) == ["README.md: docs/two.md#two (no heading #two in two.md)"]


def test_an_unlinked_page_fails(site):
    (site / "docs" / "three.md").write_text("# Three\n")
    assert unlinked_pages(site) == ["three.md"]


def test_slugs_follow_github():
    assert slug("Schedulers (budgets in evaluation intervals)") == (
        "schedulers-budgets-in-evaluation-intervals"
    )
    assert slug("Is sweep B better than sweep A, or is it the seeds?") == (
        "is-sweep-b-better-than-sweep-a-or-is-it-the-seeds"
    )
    assert slug("The report: `analyze.py`") == "the-report-analyzepy"
    assert slug("Why the numbers differ from the paper's") == (
        "why-the-numbers-differ-from-the-papers"
    )
