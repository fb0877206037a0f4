"""Issue 8: no web page the user visits can use the local server (Host, Origin, JSON, key binding, headers)."""
import json

import pytest

from taleweaver.web import security
from app import create_app
from db import init_db

OPENAI = "https://api.openai.com/v1"
KEY = "sk-proj-Plaintext0123456789abcdefXYZ"
ATTACKER = "http://127.0.0.1:6666/v1"
PATHS = ["/", "/favicon.svg", "/settings", "/api/health", "/api/settings/llm", "/proxy/llm/v1/models"]


def make_app(tmp_path, **config):
    app = create_app({"DATABASE": str(tmp_path / "t.db"), "TESTING": True, **config})
    with app.app_context():
        init_db()
    return app


@pytest.fixture
def dist(tmp_path):
    folder = tmp_path / "dist"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>Taleweaver</title>")
    (folder / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return str(folder)


@pytest.fixture
def app(tmp_path, dist):
    return make_app(tmp_path, FRONTEND_DIST=dist)


@pytest.fixture
def client(app):
    return app.test_client()


def settings_of(client):
    return client.get("/api/settings/llm").get_json()


def save_chatgpt(client, **config):
    return client.post(
        "/api/settings/llm",
        json={"backend_type": "chatgpt", "config": {"api_key": KEY, **config}, "default_model": "gpt-4o"},
    )


# ---- Host allowlist (DNS rebinding) ----------------------------------------------------------

@pytest.mark.parametrize("host", [
    "localhost", "localhost:5000", "LOCALHOST:5000", "127.0.0.1", "127.0.0.1:5000", "[::1]:5000",
    "[::1]", "taleweaver.localhost:5000", "localhost.:5000", "127.0.0.2:5000",
])
@pytest.mark.parametrize("path", PATHS)
def test_loopback_host_names_are_served(client, host, path):
    response = client.get(path, base_url=f"http://{host}")

    assert response.status_code != 403, response.get_data(as_text=True)


@pytest.mark.parametrize("host", [
    "evil.example:5000", "evil.example", "localhost.evil.example:5000", "127.0.0.1.nip.io:5000",
    "localhostx:5000", "192.168.1.20:5000", "[fe80::1]:5000", "[::2]:5000", "10.0.0.1",
])
@pytest.mark.parametrize("path", PATHS)
def test_foreign_host_names_get_403_in_the_paths_error_shape(client, host, path):
    response = client.get(path, base_url=f"http://{host}")

    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "host_not_allowed"
    assert "TALEWEAVER_ALLOWED_HOSTS" in error["message"]
    if path.startswith("/proxy/"):
        assert error["type"] == "invalid_request_error"  # OpenAI's shape
    else:
        assert set(error) == {"code", "message"}


def test_a_foreign_host_cannot_read_settings_or_write_a_story(client):
    save_chatgpt(client)
    rebinding = "http://evil.example:5000"

    read = client.get("/api/settings/llm", base_url=rebinding)
    write = client.post("/api/stories", json={"title": "x", "prompt": "p", "content": "c"}, base_url=rebinding)

    assert read.status_code == 403 and "api_key_masked" not in read.get_data(as_text=True)
    assert write.status_code == 403
    assert client.get("/api/stories").get_json()["stories"] == []


def test_allowed_hosts_setting_adds_names_and_wildcards(tmp_path, dist):
    app = make_app(tmp_path, FRONTEND_DIST=dist, ALLOWED_HOSTS=["taleweaver.lan", "*.example.org", "192.168.1.20:5000"])
    client = app.test_client()

    for host in ("taleweaver.lan:5000", "a.example.org", "deep.a.example.org:8443", "192.168.1.20:5000"):
        assert client.get("/api/health", base_url=f"http://{host}").status_code == 200, host
    for host in ("example.org", "taleweaver.lan.evil:5000", "evil.example"):
        assert client.get("/api/health", base_url=f"http://{host}").status_code == 403, host


def test_the_bound_address_is_allowed(tmp_path, dist):
    app = make_app(tmp_path, FRONTEND_DIST=dist, BIND_HOST="192.168.1.20")

    assert app.test_client().get("/", base_url="http://192.168.1.20:5000").status_code == 200
    assert app.test_client().get("/", base_url="http://192.168.1.21:5000").status_code == 403


def test_star_allows_every_host_and_is_warned_about(tmp_path, dist):
    app = make_app(tmp_path, FRONTEND_DIST=dist, ALLOWED_HOSTS=["*"])

    assert app.test_client().get("/api/health", base_url="http://evil.example").status_code == 200
    assert any("'*'" in warning for warning in security.startup_warnings(app.config))


def test_listening_beyond_loopback_without_names_says_how_to_allow_one():
    warnings = security.startup_warnings({"BIND_HOST": "0.0.0.0", "ALLOWED_HOSTS": []})

    assert len(warnings) == 1 and "TALEWEAVER_ALLOWED_HOSTS=" in warnings[0]
    assert security.startup_warnings({"BIND_HOST": "0.0.0.0", "ALLOWED_HOSTS": ["tw.lan"]}) == []
    assert security.startup_warnings({"BIND_HOST": "127.0.0.1", "ALLOWED_HOSTS": []}) == []


def test_gunicorn_start_logs_the_host_warning(tmp_path, monkeypatch, caplog):
    from tests.gunicorn_start import on_starting

    monkeypatch.setenv("TALEWEAVER_HOST", "0.0.0.0")
    monkeypatch.setenv("TALEWEAVER_ALLOW_REMOTE_SINGLE_USER", "1")
    monkeypatch.setenv("TALEWEAVER_DATABASE", str(tmp_path / "g.db"))

    with caplog.at_level("WARNING", logger="taleweaver.security"):
        on_starting("0.0.0.0:5000")

    assert "TALEWEAVER_ALLOWED_HOSTS=" in caplog.text


# ---- Origin ------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", [
    "http://evil.example", "https://evil.example", "null", "http://localhost:3001",
    "http://127.0.0.1:5001", "http://localhost.evil.example", "file://", "garbage", "",
])
def test_a_foreign_origin_is_refused_before_any_work(client, origin):
    save_chatgpt(client)
    before = settings_of(client)

    response = client.post(
        "/api/settings/llm",
        json={"backend_type": "ollama", "config": {"url": "http://127.0.0.1:6666"}},
        headers={"Origin": origin},
        base_url="http://localhost:5000",
    )

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "origin_not_allowed"
    assert "TALEWEAVER_CORS_ORIGINS" in response.get_json()["error"]["message"]
    assert "Access-Control-Allow-Origin" not in response.headers
    assert settings_of(client) == before


def test_a_foreign_origin_cannot_start_a_proxy_call(client, requests_mock):
    upstream = requests_mock.post(f"{OPENAI}/chat/completions", json={"choices": []})
    save_chatgpt(client)

    response = client.post(
        "/proxy/llm/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={"Origin": "http://evil.example"},
    )

    assert response.status_code == 403
    assert response.get_json()["error"]["type"] == "invalid_request_error"
    assert not upstream.called


def test_a_preflight_from_a_foreign_origin_is_refused_without_cors_headers(client):
    response = client.options(
        "/api/settings/llm",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin,host", [
    ("http://localhost:5000", "localhost:5000"),
    ("http://127.0.0.1:5000", "127.0.0.1:5000"),
    ("http://[::1]:5000", "[::1]:5000"),
    ("http://localhost", "localhost"),
    ("https://localhost", "localhost"),  # the page behind a TLS-terminating proxy
])
def test_the_servers_own_origin_is_allowed(client, origin, host):
    response = client.post(
        "/api/settings/llm",
        json={"backend_type": "ollama", "config": {"url": "http://localhost:11434"}},
        headers={"Origin": origin},
        base_url=f"http://{host}",
    )

    assert response.status_code == 200, response.get_data(as_text=True)


def test_own_origin_must_match_the_port(client):
    response = client.post("/api/settings/llm", json={"backend_type": "ollama"},
                           headers={"Origin": "http://localhost:5001"}, base_url="http://localhost:5000")

    assert response.status_code == 403


def test_the_configured_dev_origin_works_with_cors_headers(client):
    response = client.post(
        "/api/settings/llm",
        json={"backend_type": "ollama", "config": {"url": "http://localhost:11434"}},
        headers={"Origin": "http://localhost:3000"},
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_requests_without_origin_keep_working(client):
    response = client.post("/api/settings/llm", json={"backend_type": "ollama"})

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


# ---- JSON bodies only ----------------------------------------------------------------------

NOT_JSON = [
    ("text/plain", json.dumps({"backend_type": "ollama", "config": {"url": "http://127.0.0.1:6666"}})),
    ("text/plain;charset=UTF-8", json.dumps({"backend_type": "ollama"})),
    ("application/x-www-form-urlencoded", "backend_type=ollama"),
    ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n"),
    ("application/jsonx", json.dumps({"backend_type": "ollama"})),
    (None, json.dumps({"backend_type": "ollama"})),
]


@pytest.mark.parametrize("content_type,body", NOT_JSON)
@pytest.mark.parametrize("path", [
    "/api/settings/llm", "/api/settings/llm/test", "/api/stories", "/api/auth/login",
])
def test_a_body_that_is_not_declared_json_gets_415_and_changes_nothing(client, path, content_type, body):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(path, data=body.encode(), headers=headers)
    if content_type is None:  # the test client adds no type of its own; make sure none is sent
        assert "CONTENT_TYPE" not in response.request.environ or not response.request.environ["CONTENT_TYPE"]

    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert settings_of(client)["backend_type"] is None
    assert client.get("/api/stories").get_json()["stories"] == []


@pytest.mark.parametrize("content_type,body", NOT_JSON)
def test_a_proxy_body_that_is_not_json_gets_415_in_openai_shape(client, requests_mock, content_type, body):
    upstream = requests_mock.post(f"{OPENAI}/chat/completions", json={"choices": []})
    save_chatgpt(client)
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post("/proxy/llm/v1/chat/completions", data=body.encode(), headers=headers)

    assert response.status_code == 415
    assert response.get_json()["error"]["type"] == "invalid_request_error"
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert not upstream.called


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_with_parameters_is_accepted(client, content_type):
    response = client.post(
        "/api/settings/llm", data=json.dumps({"backend_type": "ollama"}), headers={"Content-Type": content_type}
    )

    assert response.status_code == 200


def test_a_post_without_a_body_needs_no_content_type(tmp_path):
    app = make_app(tmp_path, AUTH_MODE="multi")

    response = app.test_client().post("/api/auth/logout", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401  # reached the endpoint's own check, not 415


def test_no_code_parses_a_body_with_force():
    import pathlib

    backend = pathlib.Path(__file__).resolve().parent.parent
    offenders = [p.name for p in backend.glob("*.py") if "force=True" in p.read_text()]

    assert offenders == []


# ---- a stored key only goes where it was saved for -------------------------------------------

def test_connection_test_with_a_new_base_url_and_blank_key_does_not_send_the_stored_key(client, requests_mock):
    save_chatgpt(client)
    attacker = requests_mock.get(f"{ATTACKER}/models", json={"data": []})

    response = client.post("/api/settings/llm/test", json={"backend_type": "chatgpt", "config": {"base_url": ATTACKER}})

    body = response.get_json()
    assert response.status_code == 200
    assert body["status"] == "error"
    assert body["error_code"] == "api_key_required"
    assert body["field"] == "config.api_key"
    assert "again" in body["error"]
    assert not attacker.called
    assert all(KEY not in (r.headers.get("Authorization") or "") for r in requests_mock.request_history)


def test_connection_test_with_a_new_organization_and_blank_key_does_not_use_the_stored_key(client, requests_mock):
    save_chatgpt(client, organization="org-mine")
    models = requests_mock.get(f"{OPENAI}/models", json={"data": []})

    body = client.post(
        "/api/settings/llm/test",
        json={"backend_type": "chatgpt", "config": {"base_url": OPENAI, "organization": "org-theirs"}},
    ).get_json()

    assert body["status"] == "error" and body["error_code"] == "api_key_required"
    assert not models.called


def test_save_with_a_new_base_url_and_blank_key_is_a_400_on_the_key_and_keeps_the_settings(client):
    save_chatgpt(client)
    before = settings_of(client)

    response = client.post(
        "/api/settings/llm", json={"backend_type": "chatgpt", "config": {"base_url": ATTACKER, "api_key": ""}}
    )

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "config.api_key"
    assert "again" in error["message"]
    assert settings_of(client) == before


def test_the_stored_key_still_serves_its_own_address(client, requests_mock):
    save_chatgpt(client, base_url=OPENAI)
    models = requests_mock.get(f"{OPENAI}/models", json={"data": [{"id": "gpt-4o"}]})

    body = client.post(
        "/api/settings/llm/test", json={"backend_type": "chatgpt", "config": {"base_url": OPENAI + "/"}}
    ).get_json()

    assert body["status"] == "connected"
    assert models.last_request.headers["Authorization"] == f"Bearer {KEY}"


def test_a_new_base_url_with_the_key_entered_again_is_tested_and_saved(client, requests_mock):
    save_chatgpt(client)
    other = requests_mock.get(f"{ATTACKER}/models", json={"data": [{"id": "m"}]})

    tested = client.post("/api/settings/llm/test", json={"backend_type": "chatgpt", "config": {"base_url": ATTACKER, "api_key": KEY}})
    saved = client.post("/api/settings/llm", json={"backend_type": "chatgpt", "config": {"base_url": ATTACKER, "api_key": KEY}})

    assert tested.get_json()["status"] == "connected" and other.called
    assert saved.status_code == 200 and saved.get_json()["config"]["base_url"] == ATTACKER


# ---- response headers ----------------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS + ["/api/nothing-here", "/proxy/llm/v1/nothing"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path", ["/", "/settings", "/story"])
def test_the_app_page_gets_a_strict_policy(client, path):
    policy = client.get(path).headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))

    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_a_configured_api_origin_is_in_connect_src(tmp_path, dist):
    app = make_app(tmp_path, FRONTEND_DIST=dist, API_ORIGINS=["http://127.0.0.1:5001"])

    policy = app.test_client().get("/").headers["Content-Security-Policy"]

    assert "connect-src 'self' http://127.0.0.1:5001;" in policy


@pytest.mark.parametrize("path", ["/api/health", "/api/settings/llm", "/api/settings/llm/status", "/api/nothing"])
def test_api_responses_are_not_stored_by_caches(client, path):
    assert client.get(path).headers["Cache-Control"] == "no-store"


def test_refusals_carry_the_headers_too(client):
    response = client.get("/api/health", base_url="http://evil.example")

    assert response.status_code == 403
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


# ---- multi-user mode: the same rules, bearer tokens only ---------------------------------------

def test_multi_user_mode_applies_the_same_checks_before_login(tmp_path):
    client = make_app(tmp_path, AUTH_MODE="multi").test_client()

    host = client.get("/api/settings/llm", base_url="http://evil.example")
    origin = client.post("/api/auth/login", json={"username": "a", "password": "b"}, headers={"Origin": "null"})
    text = client.post("/api/auth/login", data='{"username": "a", "password": "b"}', content_type="text/plain")

    assert (host.status_code, origin.status_code, text.status_code) == (403, 403, 415)


def test_multi_user_login_sets_no_cookie(tmp_path):
    from werkzeug.security import generate_password_hash

    app = make_app(tmp_path, AUTH_MODE="multi")
    with app.app_context():
        from db import get_db
        get_db().execute("INSERT INTO users (username, password_hash) VALUES (?, ?)",
                         ("ann", generate_password_hash("correct horse")))

    response = app.test_client().post("/api/auth/login", json={"username": "ann", "password": "correct horse"})

    assert response.status_code == 200 and response.get_json()["token"]
    assert "Set-Cookie" not in response.headers
