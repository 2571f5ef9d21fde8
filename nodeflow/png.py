"""Reading the text chunks of a PNG file (where workflows travel inside images).

Pure Python, so `nodeflow run image.png` needs no imaging library.
"""
from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_text_chunks(data: bytes) -> dict[str, str]:
    """The tEXt, zTXt and iTXt chunks of a PNG as {keyword: text}. Raises ValueError for data
    that is not a PNG, or that is cut short before any text chunk could be read."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG file")
    chunks: dict[str, str] = {}
    pos = len(SIGNATURE)
    ended = False
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) < length:
            raise ValueError("the PNG file is truncated")
        pos += 12 + length
        if kind == b"IEND":
            ended = True
            break
        try:
            if kind == b"tEXt":
                key, _, text = body.partition(b"\0")
                chunks[key.decode("latin-1")] = _decode(text)
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\0")
                chunks[key.decode("latin-1")] = _decode(zlib.decompress(rest[1:]))
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\0")
                compressed, _method = rest[0], rest[1]
                _lang, _, rest = rest[2:].partition(b"\0")
                _translated, _, text = rest.partition(b"\0")
                chunks[key.decode("latin-1")] = (zlib.decompress(text) if compressed
                                                 else text).decode("utf-8")
        except (zlib.error, UnicodeDecodeError, IndexError):
            continue  # a damaged text chunk is skipped; the image may carry another
    if not ended and not chunks:
        raise ValueError("the PNG file is truncated")
    return chunks


def _decode(text: bytes) -> str:
    """tEXt is Latin-1 by the standard, but many tools write UTF-8 JSON into it."""
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        return text.decode("latin-1")
