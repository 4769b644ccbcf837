"""The runner's line protocol (firmware/runner.cc is the writer; this is the one reader).

A line is `<json object>|<crc32>`: the CRC-32 (zlib) of the bytes before the last '|', as 8 hex
digits. Lines that do not start with '{' are not the runner's (a boot banner, QEMU's own
messages) and are skipped; a runner line that is cut short or fails its CRC is a ProtocolError,
and so is a stream that ends before the runner's "end" (or "error") record.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable

from ..errors import InputError

__all__ = ["PROTOCOL_VERSION", "ProtocolError", "parse_line", "parse_lines"]

PROTOCOL_VERSION = 1


class ProtocolError(InputError):
    """The runner's output is damaged: a cut-off line, a CRC mismatch or a missing final line."""


def parse_line(line: str | bytes, number: int = 0) -> dict:
    """One runner line -> its record. Raises ProtocolError naming the line number."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.rstrip("\r\n")
    where = f"runner output line {number}" if number else "runner output line"
    payload, sep, crc = line.rpartition("|")
    if not sep or len(crc) != 8 or not _is_hex(crc) or not payload.endswith("}"):
        raise ProtocolError(f"{where} is truncated (no '|crc32' after the JSON): {line[:80]!r}")
    actual = zlib.crc32(payload.encode("utf-8", errors="surrogateescape")) & 0xFFFFFFFF
    if actual != int(crc, 16):
        raise ProtocolError(f"{where} fails its CRC (sent {crc}, computed {actual:08x}): "
                            f"{line[:80]!r}")
    try:
        record = json.loads(payload)
    except ValueError as exc:
        raise ProtocolError(f"{where} is not valid JSON ({exc.msg}): {line[:80]!r}") from None
    if not isinstance(record, dict) or not isinstance(record.get("t"), str):
        raise ProtocolError(f"{where} is not a runner record (no \"t\"): {line[:80]!r}")
    return record


def parse_lines(text: str | bytes | Iterable[str], *, complete: bool = True) -> list[dict]:
    """All runner records of an output stream. With `complete`, the stream must hold the final
    record ("end" or "error") and its last runner line must end with a newline."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if isinstance(text, str):
        unterminated = bool(text) and not text.endswith("\n")
        lines = text.split("\n")
        if not unterminated:
            lines = lines[:-1]
    else:
        lines, unterminated = list(text), False
    records = []
    for number, line in enumerate(lines, 1):
        stripped = line.strip("\r\n\x00 ")
        if not stripped.startswith("{"):
            continue
        if complete and unterminated and number == len(lines):
            raise ProtocolError(f"runner output line {number} is truncated (the stream ends in "
                                f"the middle of it): {stripped[:80]!r}")
        records.append(parse_line(stripped, number))
    if complete and not any(r["t"] in ("end", "error") for r in records):
        last = records[-1]["t"] if records else "nothing"
        raise ProtocolError(f"the runner output ends before its final line (last record: {last})")
    return records


def _is_hex(s: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in s)
