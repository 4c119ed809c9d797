"""Request parsing, with API.md's error rules for every content type the schema lists: a body
that is not well-formed is a 400 `{detail}` naming the problem, whether JSON or a form."""

import io
import shutil
import tempfile
from typing import IO
from urllib.parse import parse_qsl

import orjson
from django.http.multipartparser import (
    FIELD,
    FILE,
    ChunkIter,
    LazyStream,
    MultiPartParserError,
    Parser,
    exhaust,
)
from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """Strict JSON: malformed, non-UTF-8, NaN, lone surrogates or nesting deeper than 1024 levels
    are a 400 naming the problem. (The standard library would answer a deep nest with a
    RecursionError, that is a 500, and let lone surrogates through to the database.)
    The body size was already checked by `RequestBodyLimitMiddleware`."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}.") from exc


class FormParser(parsers.FormParser):
    """A urlencoded form whose text is not UTF-8 (after percent-decoding) is refused, as such
    JSON is; Django would swap the bytes for U+FFFD and save that."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        try:
            parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError as exc:
            raise ParseError("Malformed form: its text is not UTF-8.") from exc
        return super().parse(io.BytesIO(body), media_type, parser_context)


class MultiPartParser(parsers.MultiPartParser):
    """A multipart body must be a form: named `form-data` parts, then the closing boundary.

    Django skips whatever else it meets (text with no part headers, a part with no name, a body
    cut short), so a JSON `[]` sent as multipart, or any garbage, read as an empty form: a valid
    partial update of nothing. An empty form (just the closing boundary) is still `{}`."""

    def parse(self, stream, media_type=None, parser_context=None):
        """The body is read twice (checked, then parsed), from a temporary file: memory up to
        1 MiB, disk past it, so an image upload never sits in memory whole."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOLED_IN_MEMORY) as body:
            if stream is not None:
                shutil.copyfileobj(stream, body, CHUNK)
            boundary = parse_header_parameters(media_type or "")[1].get("boundary", "").encode()
            if boundary:  # without one, Django's parser refuses the body itself
                try:
                    body.seek(0)
                    problem = _multipart_problem(body, boundary)
                except MultiPartParserError as exc:  # part headers past Django's size limit
                    problem = str(exc).rstrip(".")
                if problem:
                    raise ParseError(f"Malformed multipart form: {problem}.")
            body.seek(0)
            return super().parse(body, media_type, parser_context)


SPOOLED_IN_MEMORY = 1024 * 1024
CHUNK = 64 * 1024


def _multipart_problem(body: IO[bytes], boundary: bytes) -> str | None:
    """What makes `body` no form, or None. Django's parser yields the preamble first and the
    closing delimiter's remainder (`--`, then any epilogue) last; every part between them
    must be named form-data. The RFC wants a line break before each delimiter but the first."""
    if not _has_closing_delimiter(body, boundary):
        return "no closing boundary"
    body.seek(0)
    stream = LazyStream(ChunkIter(body, CHUNK))
    parts = []
    for item_type, headers, part in Parser(stream, boundary):
        parts.append((item_type, headers))
        exhaust(part)
    for item_type, headers in parts[1:-1]:
        disposition, params = headers.get("content-disposition", ("", {}))
        if item_type not in {FIELD, FILE} or disposition.strip() != "form-data":
            return "a part is not form-data"
        if "name" not in params:  # `name=""` is a field like any other: unknown, so ignored
            return "a part has no name"
    return None


def _has_closing_delimiter(body: IO[bytes], boundary: bytes) -> bool:
    """`--boundary--` at the start of the body or after a line break, read in chunks that
    overlap by the delimiter's length, so one split across two chunks is found too."""
    delimiter = b"--" + boundary + b"--"
    if body.read(len(delimiter)) == delimiter:
        return True
    body.seek(0)
    needle, tail = b"\r\n" + delimiter, b""
    while chunk := body.read(CHUNK):
        window = tail + chunk
        if needle in window:
            return True
        tail = window[-(len(needle) - 1) :]
    return False
