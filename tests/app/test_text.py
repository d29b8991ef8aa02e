"""Data shown in Markdown reads as written: no link, image, emphasis, colour directive or math from a name."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from app.components.text import plain


@pytest.mark.parametrize("name", [
    "[click](http://evil.example)", "![x](http://evil.example/x.png)", "**bold** _it_", ":red[alert]",
    ":material/home: $x^2$", "<script>alert(1)</script>", "a\\b `code` # h", "line one\nline two",
])
def test_a_name_renders_as_its_own_text(name: str) -> None:
    html = MarkdownIt("commonmark").renderInline(plain(name))
    assert "<a " not in html and "<img" not in html and "<strong>" not in html and "<em>" not in html
    assert "<code>" not in html and "<script>" not in html
    text = html.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert text == " ".join(name.splitlines())
