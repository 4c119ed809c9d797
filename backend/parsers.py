"""Request parsing: JSON through orjson, with API.md's error rules."""

import orjson
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
