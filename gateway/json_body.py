"""The one JSON decoder for request bodies: bounded nesting, no lone surrogates.

Why: ``json.loads`` recurses once per nesting level, so a body of 50,000 ``[``
raised ``RecursionError`` deep in a handler (a 500), and it accepts ``"\\ud800"``,
a string with no UTF-8 form that fails later when Redis encodes it (a 503
"retry": a retrying client looped for ever). Both are the client's fault.

``decode_json_body`` refuses, with ``JsonRefused`` and a reason a client can act on:

- bytes that are not UTF-8 (strict: an encoded surrogate ``ED A0 80`` too, which
  ``json.loads(bytes)`` would let through with ``surrogatepass``);
- text that is not JSON;
- nesting deeper than ``MAX_DEPTH`` arrays/objects (an evaluation needs 3);
- any string, key or value, holding a lone surrogate (a ``\\uD800``-``\\uDFFF``
  escape not paired; a pair such as ``\\ud83d\\ude00`` is one character, fine).

``gateway.http_api.json_body_middleware`` applies it to every request body that
is JSON (decoded by the Content-Type's charset, as ``request.json()`` will; an
unknown charset is a 400 too), before the handler reads it: so the API, the SMS
routes, the call context, the provider callbacks and the console (a sub-app) are
all covered in one place, whatever each handler then calls (``request.json()``
re-reads the same, already checked, bytes). The decoded value is kept on the
request (``JSON_BODY``) for handlers that want it without decoding twice.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
JSON_BODY = "hcp.json_body"  # request key: the decoded, checked body

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


class JsonRefused(ValueError):
    """A body the client must fix; ``reason`` says what (for a 400)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_json_body(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of a UTF-8 ``body``, or ``JsonRefused`` with the reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRefused("the body is not valid UTF-8") from None
    return decode_json_text(text, max_depth)


def decode_json_text(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``text`` (already decoded), or ``JsonRefused``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonRefused(f"the body is nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonRefused(f"the body is not valid JSON ({exc})") from None
    _check(value, max_depth, bool(_SURROGATE_ESCAPE.search(text)))
    return value


def _check(value: Any, max_depth: int, may_hold_surrogates: bool) -> None:
    """Depth and lone surrogates, without recursion (a stack of (value, depth))."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= max_depth:
                raise JsonRefused(f"the body is nested deeper than {max_depth} levels")
            for key, inner in item.items():
                if may_hold_surrogates and _SURROGATE.search(key):
                    raise _lone_surrogate()
                stack.append((inner, depth + 1))
        elif isinstance(item, list):
            if depth >= max_depth:
                raise JsonRefused(f"the body is nested deeper than {max_depth} levels")
            stack.extend((inner, depth + 1) for inner in item)
        elif may_hold_surrogates and isinstance(item, str) and _SURROGATE.search(item):
            raise _lone_surrogate()


def _lone_surrogate() -> JsonRefused:
    return JsonRefused("a string in the body holds a lone surrogate (an unpaired "
                       "\\uD800-\\uDFFF escape): it has no UTF-8 form")


def looks_like_json(text: str) -> bool:
    """Worth decoding: the first non-blank character opens an object, array or string."""
    return text.lstrip(" \t\r\n")[:1] in ("{", "[", '"')
