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


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 text without a BOM: NULs in every other byte (LE: odd positions for ASCII-range
    text, BE: even), decoding to clean text. Binary data with NULs does not fit that."""
    sample = data[: 65536 & ~1]
    if len(sample) < 8 or len(data) % 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    for enc, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros > 0.3 * half and other < 0.01 * half:
            try:
                text = data.decode(enc)
            except UnicodeDecodeError:
                continue
            if _clean_share(text) > 0.98:
                return text, enc
    return None


def _nearly_utf8(data: bytes) -> tuple[str, str] | None:
    """UTF-8 with a few stray bytes (a Latin-1 byte pasted in): decoded with U+FFFD for
    them, instead of guessing a code page that turns every real UTF-8 letter into mojibake.
    Only when valid multi-byte sequences are there and at least as many as the bad bytes: it
    *is* UTF-8 (mostly-ASCII text with one 0xE9 is left to the code-page detector)."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    if bad and multibyte >= bad:
        return text, f"utf-8+replaced_{bad}_bytes"
    return None


def _mostly_japanese(data: bytes, encoding: str) -> bool:
    """Japanese: short samples often get no language from the detector, but decode to kana
    and kanji. Kana are required (a fifth of the letters): bytes that merely fit a CJK code
    page come out as hanzi or hangul without them (the sample corpus's mojibake.txt)."""
    try:
        text = data[: 65536].decode(encoding, errors="ignore")
    except LookupError:
        return False
    letters = [ch for ch in text if ch.isalpha()]
    kana = sum(1 for ch in letters if 0x3040 <= ord(ch) <= 0x30FF)
    kanji = sum(1 for ch in letters if 0x4E00 <= ord(ch) <= 0x9FFF)
    return len(letters) >= 4 and kana >= 0.2 * len(letters) and kana + kanji >= 0.8 * len(
        letters)


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
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16
    if text is not None:
        if "\x00" in text[:65536] or _control_share(data) > 0.05:
            raise DecodeError("binary_content", "NUL/control bytes: not a text file")
        return text, "utf-8"
    repaired = _nearly_utf8(data)
    if repaired:
        return repaired
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
    if best.coherence < 0.05 and not best.languages and not _mostly_japanese(data, best.encoding):
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
