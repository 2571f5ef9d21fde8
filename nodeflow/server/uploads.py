"""Image uploads: read within the byte limit, check that it decodes as an image within the
pixel limit, and store it under a confined name without clobbering another file."""
from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from .errors import ApiError
from .files import IMAGE_SUFFIXES, check_name, confined

_CHUNK = 64 * 1024
_MAX_FIELD = 4096
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"})


@dataclass
class Upload:
    filename: str
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)


async def read_upload(request: web.Request, file_field: str, max_bytes: int) -> Upload:
    """The multipart body's file (``file_field``) and its text fields, streamed so that an
    oversized file is refused without being held."""
    if request.content_length is not None and request.content_length > max_bytes + _CHUNK:
        raise _too_large(max_bytes)
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise ApiError(400, "expected a multipart/form-data body") from None
    try:
        upload, fields = await _read_parts(reader, file_field, max_bytes)
    except (AssertionError, ValueError, KeyError, UnicodeError, HttpProcessingError) as exc:
        raise ApiError(400, f"the multipart/form-data body is malformed: "
                            f"{_reason(exc)}") from None
    if upload is None:
        raise ApiError(400, f"no file in the form field {file_field!r}")
    upload.fields = fields
    return upload


async def _read_parts(reader: MultipartReader, file_field: str,
                      max_bytes: int) -> tuple[Upload | None, dict[str, str]]:
    upload: Upload | None = None
    fields: dict[str, str] = {}
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name == file_field and part.filename is not None:
            data = bytearray()
            while chunk := await part.read_chunk(_CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise _too_large(max_bytes)
            upload = Upload(part.filename, bytes(data))
        else:
            value = bytearray()
            while chunk := await part.read_chunk(_CHUNK):
                value += chunk
                if len(value) > _MAX_FIELD:
                    raise ApiError(400, f"form field {part.name!r} is too long")
            fields[part.name] = value.decode("utf-8", "replace")
    return upload, fields


def _reason(exc: Exception) -> str:
    """aiohttp's parser errors carry a one-line message; others their text, cut short."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:200] if text.strip() else type(exc).__name__


def check_image(data: bytes, max_pixels: int) -> tuple[int, int]:
    """(width, height) of an image that decodes completely; raises ApiError otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ApiError(413, f"the image is {width}x{height} pixels; the limit is "
                                    f"{max_pixels} pixels", "too_large")
            if image.format not in IMAGE_FORMATS:
                raise ApiError(400, f"{image.format} images are not accepted", "not_an_image")
            image.load()
    except Image.DecompressionBombError:
        raise ApiError(413, f"the image is larger than {max_pixels} pixels",
                       "too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ApiError(400, "the file is not an image that can be decoded",
                       "not_an_image") from None
    return width, height


def upload_target(root: Path, subfolder: str, filename: str) -> Path:
    """Where an upload named ``filename`` goes; raises ApiError or PathRejected."""
    if len(check_name(filename, "filename")) != 1:
        raise ApiError(400, "filename must be a plain file name", "invalid_path")
    if Path(filename).suffix.lower() not in IMAGE_SUFFIXES:
        raise ApiError(400, "filename must end in an image extension ("
                            + ", ".join(sorted(IMAGE_SUFFIXES)) + ")", "not_an_image")
    return confined(root, subfolder, filename, what="filename")


def store_upload(root: Path, subfolder: str, filename: str, data: bytes,
                 overwrite: bool) -> str:
    """Write ``data`` as ``root/subfolder/filename``; returns the name it got. Without
    ``overwrite`` an existing different file keeps its name and this one becomes
    "name (1).png"; the same bytes again reuse the existing file."""
    target = upload_target(root, subfolder, filename)
    stem, suffix = Path(filename).stem, Path(filename).suffix
    number = 1
    while target.exists() and not overwrite:
        if target.is_file() and target.read_bytes() == data:
            return target.name
        target = confined(root, subfolder, f"{stem} ({number}){suffix}", what="filename")
        number += 1
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    partial.write_bytes(data)
    os.replace(partial, target)
    return target.name


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"the upload is larger than the limit of {max_bytes} bytes",
                    "too_large")
