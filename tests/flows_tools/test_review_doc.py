"""docs/flows-review.md shows the shipped hotline flow as `hcp flows render` draws it today."""

from __future__ import annotations

import re
from pathlib import Path

from flows.loader import resolve
from flows.render import mermaid

DOC = Path(__file__).parents[2] / "docs" / "flows-review.md"


def test_the_example_diagram_is_the_current_render():
    block = re.search(r"```mermaid\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block, "docs/flows-review.md has no mermaid block"
    assert block.group(1) == mermaid(resolve("hotline-rating")), (
        "the shipped hotline flow or the renderer changed: paste the output of "
        "`hcp flows render hotline-rating` into docs/flows-review.md")
