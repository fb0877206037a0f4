"""The error every /api endpoint raises for a request it cannot serve, and the two error body
shapes, built here only: ours under /api, OpenAI's under /proxy (so OpenAI clients understand it)."""
from __future__ import annotations

from flask import Response, jsonify


class ApiError(Exception):
    """An HTTP error with a code, a message that says what to do, and maybe the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.hint = hint
        self.extra: dict = {}  # more facts for the client, e.g. current_revision of a conflict

    def to_dict(self) -> dict:
        return api_error_body(self.code, self.message, self.field, self.hint, self.extra)


def validation_error(field: str, message: str) -> ApiError:
    return ApiError(400, "validation_error", message, field=field)


def api_error_body(code: str, message: str, field: str | None = None, hint: str | None = None,
                   extra: dict | None = None) -> dict:
    """`{"error": {"code", "message", "field"?, "hint"?, ...extra}}`, the /api shape."""
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    if hint:
        error["hint"] = hint
    if extra:
        error.update(extra)
    return {"error": error}


def openai_error_body(message: str, error_type: str, code: str | None, param: str | None = None,
                      hint: str | None = None, extra: dict | None = None) -> dict:
    """`{"error": {"message", "type", "code", "param", "hint"?, ...extra}}`, OpenAI's shape."""
    error = {"message": message, "type": error_type, "code": code, "param": param}
    if hint:
        error["hint"] = hint
    if extra:
        error.update(extra)
    return {"error": error}


def error_response(status: int, code: str, message: str, *, proxy: bool, hint: str | None = None,
                   field: str | None = None, error_type: str | None = None,
                   retry_after: str | None = None, extra: dict | None = None) -> Response:
    """One error response in the shape of the path it answers."""
    if proxy:
        error_type = error_type or ("invalid_request_error" if status < 500 else "server_error")
        body = openai_error_body(message, error_type, code, field, hint, extra)
    else:
        body = api_error_body(code, message, field, hint, extra)
    response = jsonify(body)
    response.status_code = status
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response
