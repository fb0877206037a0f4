"""The application factory: config, CORS, blueprints, JSON errors and the built frontend."""
from __future__ import annotations

import ipaddress
import logging
import os
import sqlite3

import click
import psycopg
from flask import Flask, jsonify, request, send_from_directory
from flask_cors import CORS
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from taleweaver.web import auth
from taleweaver.web import auth_controller
from taleweaver import config
from taleweaver.storage import crypto
from taleweaver.storage import db
from taleweaver.web import security
from taleweaver.web import llm_proxy_controller
from taleweaver.web import settings_controller
from taleweaver.web import presets_controller
from taleweaver.settings import store as settings_store
from taleweaver.web import stories_controller
from taleweaver.errors import ApiError, error_response
from taleweaver.llm.errors import LLMError

log = logging.getLogger("taleweaver")
DEFAULT_DIST = str(config.REPO_ROOT / "frontend" / "dist")


def _is_proxy() -> bool:
    return request.path.startswith("/proxy/")


def _error(status: int, code: str, message: str, hint: str | None = None, retry_after=None,
           field: str | None = None, error_type: str | None = None, extra: dict | None = None):
    """One error response, in OpenAI's shape under /proxy and ours under /api."""
    return error_response(status, code, message, proxy=_is_proxy(), hint=hint, field=field,
                          error_type=error_type, retry_after=retry_after, extra=extra)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.hint, getattr(exc, "retry_after", None), exc.field, extra=exc.extra)

    @app.errorhandler(LLMError)
    def llm_error(exc: LLMError):
        log.warning("%s %s: %s [%s]", request.method, request.path, exc.message, exc.code)
        return _error(exc.http_status, exc.code, exc.message, exc.hint, exc.retry_after,
                      error_type=exc.openai_type)

    @app.errorhandler(crypto.SecretKeyError)
    def secret_key_error(exc: crypto.SecretKeyError):
        log.error("encryption key problem: %s", exc)
        return _error(500, "encryption_key_error", str(exc))

    @app.errorhandler(db.DatabaseUnavailable)
    def database_unavailable(exc: db.DatabaseUnavailable):
        log.error("%s %s: %s", request.method, request.path, exc.message)
        return _error(503, exc.code, exc.message, exc.hint, retry_after=exc.retry_after)

    @app.errorhandler(psycopg.OperationalError)
    def postgres_error(exc: psycopg.OperationalError):
        return database_unavailable(db.connection_lost(db.database_url(), exc))

    @app.errorhandler(sqlite3.OperationalError)
    def sqlite_error(exc: sqlite3.OperationalError):
        trouble = db.sqlite_trouble(exc, db.describe())
        return database_unavailable(trouble) if trouble is not None else unexpected(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {
            404: "There is nothing at this address.",
            405: f"{request.method} is not allowed here.",
            413: "The request body is too large.",
        }
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.code, "http_error"
        )
        response = _error(exc.code or 500, code, messages.get(exc.code, exc.description or exc.name))
        for name, value in exc.get_headers():
            if name.lower() == "allow":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, "internal_error", "Something went wrong inside Taleweaver; the server log has details.")


class PagePathConverter(PathConverter):
    """A path of the single-page app: anything not under /api or /proxy."""

    regex = r"(?!(?:api|proxy)(?:/|$))[^/].*?"


def register_frontend(app: Flask) -> None:
    """Serve the built React app at / (and its client-side routes), when it has been built."""
    dist = app.config.get("FRONTEND_DIST") or DEFAULT_DIST
    app.url_map.converters["page"] = PagePathConverter

    @app.get("/")
    @app.get("/<page:path>")
    def frontend(path: str = ""):
        index = os.path.join(dist, "index.html")
        if not os.path.exists(index):
            return (
                "<h1>Taleweaver</h1><p>The API runs, but the frontend is not built. "
                "Run <code>./run.sh</code> (or <code>npm run build</code> in frontend/).</p>",
                200,
            )
        if path and os.path.isfile(os.path.join(dist, path)):
            return send_from_directory(dist, path)
        return send_from_directory(dist, "index.html")


def setup_logging(app: Flask) -> None:
    level = getattr(logging, app.config.get("LOG_LEVEL", "INFO"), logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for handler in root.handlers + app.logger.handlers:
        if not any(isinstance(f, crypto.RedactingFilter) for f in handler.filters):
            handler.addFilter(crypto.RedactingFilter())
    logging.getLogger("taleweaver").setLevel(level)


def _cors_only_with_origin(app: Flask) -> None:
    """Run flask-cors's after_request only for a request that sent an Origin header: without one,
    CORS has nothing to answer (with always_send=False flask-cors adds no header), and its
    resource matching would otherwise run on every request, each proxied stream's start among them."""
    funcs = app.after_request_funcs[None]
    cors_after_request = funcs[-1]
    assert cors_after_request.__name__ == "cors_after_request", "flask-cors registers its hook last"

    def cors_if_origin(response):
        if "HTTP_ORIGIN" not in request.environ:
            return response
        return cors_after_request(response)

    funcs[-1] = cors_if_origin


def create_app(test_config: dict | None = None) -> Flask:
    """Create the Taleweaver app; the database is only opened when a request needs it."""
    # backend/instance/ as before the package existed: an install keeps its database and key.
    app = Flask(__name__, instance_path=str(config.BACKEND_DIR / "instance"), instance_relative_config=True,
                static_folder=None)
    app.config.from_mapping(config.from_environment())
    if test_config:
        app.config.from_mapping(test_config)
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_PROXY_BODY"]
    app.json.sort_keys = False
    os.makedirs(app.instance_path, exist_ok=True)
    if app.config["AUTH_MODE"] not in ("single", "multi"):
        raise ValueError("TALEWEAVER_AUTH_MODE must be 'single' or 'multi'.")
    check_shared_database(app)

    setup_logging(app)
    security.init_app(app)
    CORS(
        app,
        resources={r"/api/*": {}, r"/proxy/*": {}},
        origins=app.config["CORS_ORIGINS"],
        expose_headers=["X-Taleweaver-Backend", "X-Taleweaver-Model", "X-Taleweaver-Generation", "Retry-After"],
        allow_headers=["Content-Type", "Authorization", "X-Taleweaver-Story", "Last-Event-ID"],
        max_age=600,
        always_send=False,  # no Access-Control-Allow-Origin for a request that sent no allowed Origin
    )
    _cors_only_with_origin(app)

    @app.before_request
    def limit_api_body():
        # A library backup may be larger than any other /api body: its view sets its own limit
        # (TALEWEAVER_MAX_IMPORT_BODY) and reads it as a stream.
        if request.path.startswith("/api/") and request.path != "/api/stories/import":
            request.max_content_length = app.config["MAX_API_BODY"]

    db.init_app(app)
    auth.init_app(app)
    app.register_blueprint(settings_controller.bp)
    app.register_blueprint(presets_controller.bp)
    app.register_blueprint(stories_controller.bp)
    app.register_blueprint(auth_controller.bp)
    llm_proxy_controller.init_app(app)

    @app.get("/api/health")
    def health():
        return jsonify({"status": "ok"})

    @app.get("/api/openapi.json")
    def openapi_description():
        return send_from_directory(config.BACKEND_DIR, "openapi.json")

    register_error_handlers(app)
    register_frontend(app)
    app.cli.add_command(rotate_keys_command)
    return app


@click.command("rotate-keys")
def rotate_keys_command():
    """Re-encrypt every stored API key with the first key of TALEWEAVER_SECRET_KEYS."""
    count = settings_store.rotate_all_secrets()
    click.echo(f"Re-encrypted {count} stored API key(s) with the current key.")


def check_shared_database(app: Flask) -> None:
    """Refuse PostgreSQL without TALEWEAVER_SECRET_KEYS: several instances share that database,
    and a key each generated for itself would store API keys that the others cannot read."""
    db.dialect(app)  # a URL that is not PostgreSQL's is refused with its own message
    if db.database_url(app) and not app.config.get("SECRET_KEYS"):
        raise SystemExit(
            "TALEWEAVER_DATABASE_URL is set, so instances may share this database: set "
            "TALEWEAVER_SECRET_KEYS to the same Fernet key on every instance (generate one with "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'). "
            "Without it each instance would generate a key of its own and store API keys the "
            "others cannot decrypt."
        )


def check_bind_address(host: str, app: Flask) -> None:
    """Refuse to serve single-user mode (no login) beyond this machine unless told to."""
    if app.config["AUTH_MODE"] == "multi" or app.config["ALLOW_REMOTE_SINGLE_USER"]:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(
            f"Refusing to listen on {host}: single-user mode has no login, so anyone who can reach "
            "this address could use your LLM and keys. Use TALEWEAVER_AUTH_MODE=multi, bind to "
            "127.0.0.1, or set TALEWEAVER_ALLOW_REMOTE_SINGLE_USER=1 if you really mean it."
        )
