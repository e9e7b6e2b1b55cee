"""The documentation site covers what it promises: every export in the API reference, an
executed example for every family (`make docs` builds and checks the rest)."""

import re
from pathlib import Path

import hierstan

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_api_reference_documents_every_export():
    api = (DOCS / "api.md").read_text()
    documented = set(re.findall(r"\.\. (?:auto\w+|py:data)::\s+hierstan\.([\w.]+)", api))
    missing = [name for name in hierstan.__all__
               if name not in documented and f"models.{name}" not in documented]
    assert not missing, f"docs/api.md does not document hierstan.{', hierstan.'.join(missing)}"


def test_every_family_has_an_executed_example_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text()
    for name in hierstan.FAMILIES:
        page = DOCS / "examples" / f"{name}.md"
        assert page.exists(), f"no worked example for {name}"
        text = page.read_text()
        assert "file_format: mystnb" in text and "```{code-cell}" in text, f"{page.name} is not executed"
        assert f"examples/{name}" in index, f"{page.name} is not in docs/index.md's table of contents"
