"""The documentation holds together: README.md stays a front page and every docs/*.md page one topic of at most
8,000 characters, every page is reached from the README, and every relative link of README.md, docs/*.md and
benchmarks/README.md reaches a file that exists and, with a #fragment, a heading of it (as GitHub names heading
anchors)."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
README_MAX_CHARS = 8_000
PAGE_MAX_CHARS = 8_000  # a docs page: one topic, read in one go

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where a link is not a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def github_anchors(text: str) -> set[str]:
    """Heading anchors as GitHub makes them: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    anchors, seen = set(), {}
    for heading in HEADING.findall(FENCE.sub("", text)):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(_prose(page.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I)]  # http:, https:, mailto: are not checked here


def test_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text()
    assert len(text) <= README_MAX_CHARS, f"README.md has {len(text):,} characters; move detail into docs/"


def test_the_anchor_rule_matches_github():
    text = "# Questions in plain language (`ask`)\n## `serve_api.py`: dashboard API\n## Notes\n## Notes\n"
    assert github_anchors(text) == {"questions-in-plain-language-ask", "serve_apipy-dashboard-api", "notes", "notes-1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path):
    broken = []
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / unquote(path)).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif fragment and file.suffix == ".md" and unquote(fragment) not in github_anchors(file.read_text()):
            broken.append(f"{target}: no heading #{fragment} in {file.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", PAGES[1:-1], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_docs_page_is_one_topic_of_at_most_8000_characters(page: Path):
    text = page.read_text()
    assert text.startswith("# "), "a page opens with its title"
    assert len(text) <= PAGE_MAX_CHARS, f"{page.name} has {len(text):,} characters; split it by topic"


def test_every_page_is_reached_from_the_readme():
    """Through the README's links, and the links of the pages they reach (a topic split in two links its parts)."""
    reached, todo = set(), [(ROOT / "README.md").resolve()]
    while todo:
        page = todo.pop()
        if page in reached or page.suffix != ".md" or not page.exists():
            continue
        reached.add(page)
        todo += [(page.parent / unquote(t.partition("#")[0])).resolve() for t in relative_links(page)
                 if t.partition("#")[0]]
    assert [str(p.relative_to(ROOT)) for p in PAGES[1:] if p.resolve() not in reached] == []


def test_the_benchmarks_open_with_todays_figures_and_name_runs_by_date_and_commit():
    """A reader finds the current figures first; a run is named by when and at which commit it was measured (what
    `git show` finds), not by a work period ("end of session 9", "issue 15") that means nothing outside the team."""
    headings = HEADING.findall(FENCE.sub("", (ROOT / "benchmarks" / "README.md").read_text()))
    assert headings[0] == "Benchmarks" and headings[1] == "Current figures", headings[:2]
    assert [h for h in headings if re.search(r"\b(session|issue|sprint|work period)\b", h, re.I)] == []
    dated = [h for h in headings if re.search(r"\b20\d\d-\d\d-\d\d\b", h)]
    assert len(dated) >= 5 and [h for h in dated if not re.search(r"\b[0-9a-f]{7,40}\b", h)] == []


def test_the_readme_opening_counts_and_lists_every_source():
    """"It ships two sources" above a list of three misled a reader: the count and the list follow the registry."""
    from analytics_pipeline.sources.registry import SOURCE_NAMES

    opening = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    count = ("no", "one", "two", "three", "four", "five", "six")[len(SOURCE_NAMES)]
    assert f"ships {count} sources" in opening
    assert len(re.findall(r"^- \*\*[^*]+\*\* —", opening, re.M)) == len(SOURCE_NAMES)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_readme_front_page_has_its_parts():
    """What a newcomer reads first: the pictures of a dashboard and of the asset graph (made by docs/make_pictures.py
    from the demo), the two commands, the five things to try next (sql, serve, dev, export, S3), layout and links."""
    text = (ROOT / "README.md").read_text()
    sections = re.findall(r"^## (.+)$", FENCE.sub("", text), re.M)
    assert sections[:2] == ["Two commands", "Five things to try next"] and {"Layout", "Documentation"} <= set(sections)
    pictures = re.findall(r"!\[[^\]]+\]\((docs/[^)]+\.png)\)", text.split("\n## ", 1)[0])
    assert pictures == ["docs/dashboard.png", "docs/asset-graph.png"]
    maker = (ROOT / "docs" / "make_pictures.py").read_text()
    for picture in pictures:
        assert f'"{Path(picture).name}"' in maker and _png_size(ROOT / picture) == (1440, 900), picture
    (commands,) = re.findall(r"^## Two commands\n.*?```bash\n(.*?)```", text, re.M | re.S)
    assert [line.split("#")[0].strip() for line in commands.strip().splitlines()] == [
        "uv run analytics-pipeline demo", "uv run pytest"]
    steps = re.findall(r"^(\d)\. \*\*(.+?)\*\*(.*?)(?=^\d\. |\n\n)", text.split("## Five things to try next", 1)[1],
                       re.M | re.S)
    assert [n for n, _, _ in steps] == ["1", "2", "3", "4", "5"]
    for (_, _, body), what in zip(steps, ["analytics-pipeline sql", "analytics-pipeline serve", "analytics-pipeline dev",
                                          "analytics-pipeline export", "s3://"]):
        assert what in body, what
