"""Text from data (class names from a vocabulary.csv, video ids, dataset names) shown in Streamlit's Markdown:
every character Markdown or Streamlit's own syntax would act on (links, images, emphasis, ``:red[...]``
colour and ``:material/...:`` icon directives, ``$`` math, HTML) is escaped, so that it reads as written."""

from __future__ import annotations

import re

_ACTIVE = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&])")


def plain(text: object) -> str:
    """``text`` as Markdown that displays exactly ``str(text)`` (newlines become spaces)."""
    return _ACTIVE.sub(r"\\\1", " ".join(str(text).splitlines()))
