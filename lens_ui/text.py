"""Showing strings the app did not write — run names, display names, dataset names, ids from the page address —
inside Streamlit's Markdown as text.

Streamlit escapes HTML, but Markdown is live in ``st.markdown``, ``st.caption``, ``st.info`` & co., widget labels
and toasts: a run named ``![p](http://host/pixel.png)`` would make every viewer's browser fetch that address, and a
crafted ``?run=`` link could draw a clickable "log in again" link. ``plain()`` backslash-escapes every ASCII
punctuation character (CommonMark lets any of them be escaped, and Streamlit's ``:color[…]`` / ``:emoji:`` / ``$``
directives start with one), so the string reads exactly as typed and nothing in it becomes a link, an image, an
emphasis, a directive or a line break. Never put its result inside a code span: backslashes are literal there.

Escapes do not stop GFM's *autolink literals* (``http://…``, ``www.…``, ``a@b.org``): Streamlit's remark-gfm finds
them in the text after the escapes are resolved (seen in Chromium, 2026-11-25). An invisible WORD JOINER (U+2060)
after ``:`` and ``@`` and inside ``www.`` breaks those patterns and changes nothing a reader sees.
"""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")   # the ASCII punctuation ranges: !"#$%&'()*+,-./ :;<=>?@ [\]^_` {|}~
_AUTOLINK = re.compile(r"(?<=[:@])|(?<=www)(?=\.)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def plain(value: object) -> str:
    """``value`` as text for any Markdown-rendering element: one line, every Markdown character escaped, no
    autolink left."""
    one_line = " ".join(str(value).split())
    return _PUNCTUATION.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, one_line))
