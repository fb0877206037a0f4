"""Reading a request's JSON body, with a clear error for anything that is not a JSON object."""
from __future__ import annotations

from flask import request

from taleweaver.errors import ApiError


def json_object() -> dict:
    """The request body as a dict, or a 400 that says what is wrong with it."""
    data = request.get_json(silent=True)
    if data is None:
        if not request.get_data(cache=True):
            raise ApiError(400, "invalid_json", "The request needs a JSON body.")
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return data
