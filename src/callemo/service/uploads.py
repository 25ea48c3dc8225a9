"""Receiving an upload: the size limit enforced while the body arrives, spooling to the storage's
``tmp/`` folder, the file name and type checks, and the audio probe."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, UploadFile
from fastapi.routing import APIRoute
from starlette.responses import Response

#: extensions accepted for upload (what callemo.io reads)
UPLOAD_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".au", ".sph")
#: the extension of a raw-body upload without one in its name, from its Content-Type
CONTENT_TYPES = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/flac": ".flac",
                 "audio/x-flac": ".flac", "audio/mpeg": ".mp3", "audio/mp3": ".mp3"}
DEFAULT_MAX_UPLOAD_MB = 200.0
#: the longest file name kept (it is stored in the database, never used as a path)
MAX_NAME = 255


class UploadError(ValueError):
    """A bad upload; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def too_large(max_bytes: int) -> HTTPException:
    return HTTPException(413, f"upload too large: more than {max_bytes / 1e6:.0f} MB "
                              f"(the limit of this server, --max-upload-mb)")


class UploadRoute(APIRoute):
    """The upload route: refuses a body over the service's limit (plus form overhead) before
    FastAPI parses the form, by its Content-Length or, for a chunked body, as soon as it passes the
    limit; an url-encoded body (curl --data-binary without a Content-Type) is refused with 415."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            max_bytes = int(request.app.state.config.max_upload_bytes)
            limit = max_bytes + 64 * 1024
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise HTTPException(413, f"upload too large: {int(declared) / 1e6:.1f} MB, more than the "
                                         f"{max_bytes / 1e6:.0f} MB this server accepts (--max-upload-mb)")
            if request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded"):
                raise HTTPException(415, "send the recording as multipart/form-data (field 'file') or as the "
                                         "raw body with an audio Content-Type (e.g. audio/wav), not url-encoded")
            received = 0

            async def receive() -> Any:
                nonlocal received
                message = await request.receive()
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(max_bytes)
                return message

            return await handler(Request(request.scope, receive))

        return limited


async def spool(chunks: AsyncIterator[bytes], directory: Path, max_bytes: int) -> tuple[Path, int]:
    """Write the chunks to a temporary file (``0600``) in ``directory``; 413 as soon as they pass
    ``max_bytes``. A crash leaves the file there: the store removes it at the next start-up."""
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=directory)
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(max_bytes)
                f.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name), size


async def file_chunks(file: UploadFile, size: int = 1 << 20) -> AsyncIterator[bytes]:
    while chunk := await file.read(size):
        yield chunk


def clean_name(raw: str | None) -> str:
    """The base name of an uploaded file, checked: :class:`UploadError` (400) for a name that is
    too long, has control characters or is not valid Unicode."""
    name = Path(str(raw or "").replace("\\", "/")).name.strip()
    if name in ("", ".", ".."):
        return "upload"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UploadError(400, "the file name is not valid Unicode") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UploadError(400, "the file name contains control characters")
    if len(name) > MAX_NAME:
        raise UploadError(400, f"the file name is too long ({len(name)} characters; at most {MAX_NAME}): "
                               "rename the file")
    return name


def audio_extension(name: str, content_type: str, multipart: bool) -> str:
    """The upload's audio extension (from its name, or a raw body's Content-Type); 415 otherwise."""
    ext = Path(name).suffix.lower()
    if not ext and not multipart:
        ext = CONTENT_TYPES.get(content_type.split(";")[0].strip().lower(), "")
    if ext not in UPLOAD_EXTENSIONS:
        raise UploadError(415, f"{name}: unsupported file type {ext or '(no extension)'!r}; upload a "
                               f"WAV, FLAC or MP3 recording ({', '.join(UPLOAD_EXTENSIONS)})")
    return ext


def check_audio(path: Path, ext: str, name: str) -> Any:
    """Audio info of an uploaded file (renamed with its extension so decoders recognise it);
    :class:`UploadError` naming the upload, never the storage path."""
    from ..io import AudioError, audio_info

    probe = path.with_name(path.name + ext)
    os.replace(path, probe)
    try:
        try:
            info = audio_info(probe)
        except AudioError as e:
            problem = e.problem.replace(str(probe), name)
            raise UploadError(415, f"{name}: not a readable audio file ({problem})") from None
        except Exception as e:
            raise UploadError(415, f"{name}: not a readable audio file ({type(e).__name__}: "
                                   f"{str(e).replace(str(probe), name)})") from None
        if info.frames == 0:
            raise UploadError(400, f"{name}: the recording contains no audio samples")
    finally:
        os.replace(probe, path)
    return info
