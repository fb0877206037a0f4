"""The error every /api endpoint raises for a request it cannot serve."""
from __future__ import annotations


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
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.hint:
            error["hint"] = self.hint
        error.update(self.extra)
        return {"error": error}


def validation_error(field: str, message: str) -> ApiError:
    return ApiError(400, "validation_error", message, field=field)
