"""The front page and the docs point at files that exist: every relative link of README.md and docs/*.md."""
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")  # Markdown [text](target)


def relative_links(page: Path):
    for target in LINK.findall(page.read_text()):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            yield target.split("#")[0]


def test_every_relative_link_resolves():
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = [f"{page.relative_to(ROOT)} -> {target}" for page in pages for target in relative_links(page)
              if not (page.parent / target).exists()]
    assert broken == []


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    commands = [line for line in lines if line.startswith(("pip install", "git clone"))]
    assert len(commands) == 3 and commands[0].startswith("git clone --depth 1")  # the clone, then the two commands


def test_every_test_the_faults_table_names_exists():
    """docs/faults.md names, for each fault, the test that checks it (`test_csv_*`: a family of them): a renamed or
    deleted test shows up here."""
    named = re.findall(r"`(test_\w+)\.py::(test_\w+)", (ROOT / "docs" / "faults.md").read_text())
    assert len(named) >= 10
    missing = [f"{module}::{test}" for module, test in named
               if not re.search(rf"def {test}\w*\(" if test.endswith("_") else rf"def {test}\(", (ROOT / "tests" / f"{module}.py").read_text())]
    assert missing == []
