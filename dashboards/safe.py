"""User-supplied text (file names, plate names, messages quoting them) shown as literal text, never as markup."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~$:])")


def md(text: object) -> str:
    """`text` escaped for Streamlit's markdown (st.error, st.success, st.subheader, ...): no links, HTML, LaTeX,
    emphasis or emoji shortcodes."""
    return _MARKDOWN.sub(r"\\\1", str(text))
