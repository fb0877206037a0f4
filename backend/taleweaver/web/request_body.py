"""Reading a request's JSON body, with a clear 400 for anything that is not a JSON object Taleweaver
can store and send on: not JSON, nested deeper than MAX_DEPTH, NaN or Infinity (not JSON, and a
page cannot read them back), a lone UTF-16 surrogate (half a character: refused, never replaced,
so that what is stored is exactly what was sent). A large body (a library's backup) can be read
as a stream, one item of its list at a time."""
from __future__ import annotations

import json
import re
from typing import Iterator

import ijson
from flask import request

from taleweaver.errors import ApiError

MAX_DEPTH = 64  # arrays and objects inside each other; OpenAI's tool schemas stay far below
# A \uD800-\uDFFF escape after an odd number of backslashes (an even number escapes themselves).
_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u([dD][89a-fA-F][0-9a-fA-F]{2})")
_LOW_ESCAPE = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_HIGH_ESCAPE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]")  # a literal start: found as fast as a substring


def _not_a_number(constant: str):
    raise ApiError(400, "invalid_json", f"The request body contains {constant}, which JSON does not allow: "
                                        "send a number, or null.")


def _too_deep() -> ApiError:
    return ApiError(400, "invalid_json", f"The request body is nested more than {MAX_DEPTH} levels deep; "
                                         "no Taleweaver request needs that.")


def lone_surrogate(path: str, text: str) -> ApiError:
    code = f"\\u{ord(_LONE_SURROGATE.search(text).group()):04x}"
    return ApiError(
        400, "invalid_text",
        f"{path or 'The body'} contains a lone UTF-16 surrogate ({code}): half of a character such as an emoji, "
        "which is not text. Send the whole character, or remove it.", field=path or None,
    )


def _path(entry) -> str:
    """The dotted path of a pending entry of check_value, built only for an error message."""
    parts = []
    while entry is not None:
        _, _, parent, key = entry
        if parent is not None:
            parts.append(f"[{key}]" if isinstance(key, int) else (f".{key}" if parent[2] is not None else key))
        entry = parent
    return "".join(reversed(parts))


def check_value(value, strings: bool = True) -> None:
    """Refuse a value nested deeper than MAX_DEPTH and, with `strings`, one holding a lone
    surrogate in a string or key. Iterative: any depth is safe."""
    pending = [(value, 0, None, None)]
    while pending:
        entry = pending.pop()
        item, level = entry[0], entry[1]
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                raise lone_surrogate(_path(entry), item)
            continue
        if level >= MAX_DEPTH:
            raise _too_deep()
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in children:
            if strings and isinstance(key, str) and _LONE_SURROGATE.search(key):
                raise lone_surrogate(_path(entry), key)
            if isinstance(child, (dict, list)) or (strings and isinstance(child, str)):
                pending.append((child, level + 1, entry, key))


_DECODER = json.JSONDecoder(parse_constant=_not_a_number)


def json_body():
    """The request body parsed and checked (any JSON value), or a 400 that says what is wrong."""
    raw = request.get_data(cache=True)
    if not raw:
        raise ApiError(400, "invalid_json", "The request needs a JSON body.")
    try:
        data = _DECODER.decode(raw.decode("utf-8"))
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON (UTF-8).") from None
    # Only an escape can make a lone surrogate (UTF-8 cannot encode one): the strings are looked
    # at only when the body has one that may be a surrogate's.
    if isinstance(data, (dict, list)):
        check_value(data, strings=_SURROGATE_HINT.search(raw) is not None)
    return data


def json_object() -> dict:
    """The request body as a dict, or a 400 that says what is wrong with it."""
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return data


class _CheckedStream:
    """The request stream as ijson reads it, counting the bytes read and refusing a lone
    surrogate escape (ijson's parser would turn it into '?': what was sent would not be stored)."""

    CARRY = 12  # bytes kept from one read to the next, so an escape pair split by a read is seen whole

    def __init__(self, stream):
        self.stream, self.count, self.carry = stream, 0, b""

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # werkzeug's stream takes a read of nothing for a client gone away
        data = self.stream.read(size)
        self.count += len(data)
        window = self.carry + data
        for match in _SURROGATE_ESCAPE.finditer(window) if _SURROGATE_HINT.search(window) else ():
            start = match.start(1) - 2
            if _HIGH_ESCAPE.match(window, start):
                if len(window) - match.end() < 6 and data:
                    continue  # its pair may come with the next read: seen again in the carry
                paired = _LOW_ESCAPE.match(window, match.end()) is not None
            else:
                paired = start >= 6 and _HIGH_ESCAPE.match(window, start - 6) is not None
            if not paired:
                raise ApiError(400, "invalid_text", f"The body contains a lone UTF-16 surrogate "
                                                    f"({window[start:match.end()].decode()}): half of a character "
                                                    "such as an emoji, which is not text. Remove it.")
        self.carry = window[-self.CARRY:]
        return data


def _build(first: tuple[str, object], events, depth: int, reader: _CheckedStream, limit: int):
    """The JSON value whose first event is `first`, built from the events that follow it."""
    event, value = first
    if event not in ("start_map", "start_array"):
        return value
    root = {} if event == "start_map" else []
    stack, keys, start = [root], [None], reader.count
    for event, value in events:
        if event == "map_key":
            keys[-1] = value
            continue
        if event in ("end_map", "end_array"):
            stack.pop()
            keys.pop()
            if not stack:
                return root
            continue
        child = {} if event == "start_map" else [] if event == "start_array" else value
        parent = stack[-1]
        if isinstance(parent, list):
            parent.append(child)
        else:
            parent[keys[-1]] = child
        if event in ("start_map", "start_array"):
            if depth + len(stack) >= MAX_DEPTH:
                raise _too_deep()
            stack.append(child)
            keys.append(None)
        if reader.count - start > limit:
            raise ApiError(413, "payload_too_large", f"One item of the body is larger than {limit:,} bytes.")
    raise ApiError(400, "invalid_json", "The request body ended in the middle of a value.")


LIST_START = object()  # what streamed_object gives as the value when its list begins


def streamed_object(list_key: str, item_limit: int) -> Iterator[tuple[str, object]]:
    """The request body, a JSON object read as it arrives (request.max_content_length bounds it):
    each top-level (key, value), except that the list under `list_key` comes as (list_key,
    LIST_START) and then one (list_key, item) pair per item (of at most `item_limit` bytes)."""
    reader = _CheckedStream(request.stream)
    events = ijson.basic_parse(reader, use_float=True)
    try:
        if next(events, (None, None))[0] != "start_map":
            raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
        for event, key in events:
            if event == "end_map":
                continue  # the events end here (ijson refuses anything after the object)
            first = next(events)
            if key != list_key:
                yield key, _build(first, events, 1, reader, item_limit)
                continue
            if first[0] != "start_array":
                raise ApiError(400, "validation_error", f"{list_key} must be a list.", field=list_key)
            yield list_key, LIST_START
            for item_first in events:
                if item_first[0] == "end_array":
                    break
                yield list_key, _build(item_first, events, 2, reader, item_limit)
    except ijson.JSONError:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON (UTF-8).") from None
