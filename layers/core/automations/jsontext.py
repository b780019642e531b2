"""JSON text read within bounds: whatever nests deeper than a limit is cut off before the text is parsed.

Request bodies (the management API's, the trigger events') are measured with it, so that parsing a hostile text
never recurses past the interpreter's limit.
"""

from __future__ import annotations

import re

#: Strings and brackets of a JSON text, to measure its nesting before parsing it.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def cut_deep(text: str, levels: int) -> str:
    """The JSON text with each array or object nested deeper than ``levels`` replaced by ``null`` (the
    text itself when nothing is): parsing it stays within bounds, and the places cut stay visible."""
    if text.count("[") + text.count("{") <= levels:
        return text
    depth = 0
    start = -1
    pieces: list[str] = []
    kept = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth == levels + 1:
                start = match.start()
        else:
            if depth == levels + 1 and start >= 0:
                pieces += [text[kept:start], "null"]
                kept = match.end()
                start = -1
            depth -= 1
    if not pieces and start < 0:
        return text
    if start >= 0:  # never closed: not JSON, and said so when parsed
        pieces += [text[kept:start], "["]
        kept = len(text)
    pieces.append(text[kept:])
    return "".join(pieces)
