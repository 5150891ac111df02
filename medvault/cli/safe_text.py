"""Text from a drive or the registry, made safe to print on a terminal.

A vault label, a custodian's name, a host, a file name or an event's details can be
written by whoever holds the drive (labels are read before any passphrase) or the
registry. Printed raw, an ESC, CSI or OSC sequence can rewrite what the screen shows
(move the cursor, recolour a line, retitle the window) and bidi overrides can reorder it.
Every such value goes through safe() before it is printed.
"""

from __future__ import annotations

import json


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe(value: object) -> str:
    """VALUE as one printable line: every character Python does not call printable (C0
    and C1 controls, ESC, DEL, bidi and other format characters, line and paragraph
    separators, unpaired surrogates, unassigned code points) shown as a visible \\x, \\u
    or \\U escape."""
    text = str(value)
    if text.isprintable():  # the usual case, checked in C
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def safe_lines(text: str) -> str:
    """TEXT of several lines (a CSV or HTML report) with safe() applied to each line; the
    line ends (\\n, \\r\\n) are kept."""
    lines = text.split("\n")
    return "\n".join(
        safe(line[:-1]) + "\r" if line.endswith("\r") else safe(line) for line in lines
    )


def _json_escaped(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP, JSON spells a character as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def safe_json(text: str) -> str:
    """JSON TEXT (from json.dumps with ensure_ascii=False) with every character that is
    not printable, other than the newlines of indentation, written as a JSON \\u escape:
    the same JSON value, nothing a terminal acts on. json.dumps already escapes C0
    controls; C1 controls, DEL and bidi characters it leaves raw."""
    if all(line.isprintable() for line in text.split("\n")):
        return text
    return "".join(c if c == "\n" or c.isprintable() else _json_escaped(c) for c in text)


def dumps(value: object, indent: int | None = 2) -> str:
    """json.dumps for output: readable non-ASCII text, no terminal controls."""
    return safe_json(json.dumps(value, indent=indent, ensure_ascii=False))
