"""/api/auth: which mode the server is in, and logging in and out in multi-user mode."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from taleweaver.web import auth
from taleweaver.errors import ApiError, validation_error
from taleweaver.web.request_body import json_object

bp = Blueprint("auth", __name__, url_prefix="/api/auth")


@bp.get("/mode")
def mode():
    return jsonify({"mode": current_app.config.get("AUTH_MODE", "single")})


@bp.post("/login")
def login():
    if not auth.multi_user():
        raise ApiError(400, "single_user_mode", "This server runs in single-user mode: no login is needed.")
    body = json_object()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not username.strip():
        raise validation_error("username", "Enter your username.")
    if not isinstance(password, str) or not password:
        raise validation_error("password", "Enter your password.")
    attempt = f"{request.remote_addr}|{username.strip().lower()}"
    auth.check_rate(attempt)
    try:
        token, user = auth.login(username.strip(), password)
    except ApiError:
        auth.record_failure(attempt)
        raise
    return jsonify({"token": token, "user": user})


@bp.post("/logout")
def logout():
    auth.logout()
    return "", 204


@bp.get("/me")
def me():
    return jsonify({**auth.signed_in_user(), "mode": current_app.config.get("AUTH_MODE")})
