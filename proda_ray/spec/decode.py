"""Bytes -> text. UTF-8 first, BOMs honoured, other encodings detected, binary refused."""

from __future__ import annotations

import codecs

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_TEXT_CONTROLS = {9, 10, 12, 13}
_PREFERRED = {enc: i for i, enc in enumerate(
    ["cp1252", "latin_1", "iso8859_15", "utf_16", "cp1250", "cp1251", "gb18030", "shift_jis",
     "euc_jp", "big5", "cp949", "euc_kr"])}
_BAD_BYTES = bytes(b for b in range(32) if b not in _TEXT_CONTROLS)


class DecodeError(ValueError):
    """Raised with ``reason`` = binary_content | undecodable_encoding."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _control_share(data: bytes) -> float:
    sample = data[:65536]
    if not sample:
        return 0.0
    return (len(sample) - len(sample.translate(None, _BAD_BYTES))) / len(sample)


def _clean_share(text: str) -> float:
    """Share of characters that are not replacement chars or C0/C1 controls."""
    if not text:
        return 1.0
    sample = text[:65536]
    bad = sum(
        1 for ch in sample
        if ch == "\ufffd" or (ord(ch) < 32 and ord(ch) not in _TEXT_CONTROLS)
        or 0x7F <= ord(ch) < 0xA0
    )
    return 1 - bad / len(sample)


def decode_bytes(data: bytes, min_confidence: float = 0.8) -> tuple[str, str]:
    """(text, encoding used). Raises ``DecodeError`` for binary or undecodable input."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as e:
                raise DecodeError("undecodable_encoding", f"{enc} BOM but invalid: {e}") from e
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        if "\x00" in text[:65536] or _control_share(data) > 0.05:
            raise DecodeError("binary_content", "NUL/control bytes: not a text file")
        return text, "utf-8"
    if b"\x00" in data[:65536] or _control_share(data) > 0.05:
        raise DecodeError("binary_content", "NUL/control bytes: not a text file")
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[: 4 * 2**20]))
    if not matches:
        raise DecodeError("undecodable_encoding", "no character encoding fits these bytes")
    # Equally good candidates are common for short Western text (cp1250 vs cp1252 differ on a
    # handful of letters): prefer the encodings most documents are actually written in.
    top = (matches[0].chaos, -matches[0].coherence)
    tied = [m for m in matches if (m.chaos, -m.coherence) == top]
    best = min(tied, key=lambda m: _PREFERRED.get(m.encoding, len(_PREFERRED)))
    if best.coherence < 0.05 and not best.languages:
        # bytes that fit some code page but read as no language at all: mojibake, not text
        raise DecodeError("undecodable_encoding",
                          f"bytes fit {best.encoding} but the result is no known language")
    try:
        text = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as e:
        raise DecodeError("undecodable_encoding", f"detected {best.encoding}, but: {e}") from e
    share = _clean_share(text)
    if share < min_confidence:
        raise DecodeError(
            "undecodable_encoding",
            f"decoded as {best.encoding}, but only {share:.0%} of characters are clean",
        )
    return text, best.encoding
