"""Text from outside the program (servers, files, the environment) made safe to show or to keep.

Two rules, each in one place: `printable` for anything written to a terminal or a log line (nothing a
terminal would interpret, one line per line), and `scrub_secrets` for anything kept in a report or shown
at all (no bearer token, no password in a URL).
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 control characters (escape sequences, line breaks, tabs), line and paragraph separators, and the
bidirectional marks and overrides that reorder what a terminal shows."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """`value` as text a terminal shows as written: control characters, line breaks and bidirectional
    overrides appear escaped (`\\x1b`, `\\n`, `\\u202e`) instead of being acted on, so a hostile name can
    neither colour, move, hide nor fake a line of the output."""
    text = str(value)
    return _UNSAFE.sub(_escaped, text) if _UNSAFE.search(text) else text


_UNSAFE_IN_HTML = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
"""What `printable` escapes, less the line breaks and tabs that a page shows as white space."""


def printable_in_page(value: str) -> str:
    """`value` as a page may show it: control characters and bidirectional overrides escaped as `printable` escapes
    them (U+202E would reverse a table cell), line breaks and tabs left to the page's white space. HTML escaping
    comes after, from the template engine."""
    return _UNSAFE_IN_HTML.sub(_escaped, value) if _UNSAFE_IN_HTML.search(value) else value


_BEARER = re.compile(r"(?is)\bbearer\s+.*?(?=['\"]|$)")
"""A bearer token up to the quote that ends it, or to the end of the text (a token with a line break in it
is cut nowhere else)."""
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]*@")
_AUTHORIZATION = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+")
REDACTED = "[redacted]"


def scrub_secrets(text: str) -> str:
    """`text` without credentials: bearer tokens, JSON web tokens, `Authorization` header values and the user
    information of URLs (`https://user:password@host`) are replaced by "[redacted]". Error messages of
    HTTP libraries quote header values and URLs; what they quote must not reach a report or a log."""
    text = _BEARER.sub(f"Bearer {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    return _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
