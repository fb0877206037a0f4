"""The database (migrations, constraints, concurrency, locks) and secrets (encryption, rotation, redaction)."""
import io
import json
import logging
import os
import sqlite3
import stat
import threading

import pytest
import requests
from cryptography.fernet import Fernet, InvalidToken
from werkzeug.security import generate_password_hash

from taleweaver.web import auth
from taleweaver.storage import crypto
import db
from taleweaver.llm import wsl
import llm_service
from app import create_app
from tests.database import query

KEY = "sk-proj-StoredSecret0123456789abcdefXYZ"
MASK = "sk-" + "*" * (len(KEY) - 4) + "Z"


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Keys, services and WSL addresses are cached per process; each test starts without them."""
    crypto.clear_cache()
    llm_service._active_cache.clear()
    wsl.forget_resolved()
    yield
    crypto.clear_cache()
    llm_service._active_cache.clear()


def sqlite_query(path, sql, params=()):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stored_token(app):
    (config_json,) = query(app, "SELECT config_json FROM settings WHERE backend_type = 'chatgpt'")[0]
    return json.loads(config_json)["api_key_encrypted"]


def save_chatgpt(client, key=KEY):
    response = client.post("/api/settings/llm", json={"backend_type": "chatgpt", "config": {"api_key": key}, "default_model": "gpt-4o"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# ---- migrations ---------------------------------------------------------------------------------

def latest_version():
    return db.migrations()[-1][0]


@pytest.mark.sqlite_only
def test_empty_database_at_version_0_gets_the_whole_schema(tmp_path):
    path = str(tmp_path / "empty.db")
    sqlite3.connect(path).close()
    assert sqlite_query(path, "PRAGMA user_version") == [(0,)]
    app = create_app({"DATABASE": path})

    with app.app_context():
        version = db.init_db()

    assert version == latest_version()
    assert sqlite_query(path, "PRAGMA user_version") == [(version,)]
    tables = {row[0] for row in sqlite_query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "tokens", "settings", "stories"} <= tables
    assert sqlite_query(path, "SELECT username FROM users") == [(db.LOCAL_USERNAME,)]
    assert sqlite_query(path, "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.sqlite_only
def test_migrating_an_existing_database_again_keeps_its_rows(tmp_path):
    path = str(tmp_path / "kept.db")
    app = create_app({"DATABASE": path})
    with app.app_context():
        db.init_db()
    client = app.test_client()
    save_chatgpt(client)
    story = client.post("/api/stories", json={"title": "Kept", "content": "Still here."}).get_json()

    with app.app_context():
        version = db.init_db()

    assert version == latest_version()
    assert client.get(f"/api/stories/{story['id']}").get_json()["content"] == "Still here."
    assert client.get("/api/settings/llm").get_json()["config"]["api_key_masked"] == MASK
    assert sqlite_query(path, "SELECT count(*) FROM users") == [(1,)]


@pytest.mark.sqlite_only
def test_a_new_migration_upgrades_in_place_and_keeps_rows(tmp_path, monkeypatch):
    path = str(tmp_path / "upgrade.db")
    app = create_app({"DATABASE": path})
    with app.app_context():
        db.init_db()
    app.test_client().post("/api/stories", json={"title": "Old", "content": "Old story."})
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for number, source in db.migrations():
        (migrations / os.path.basename(source)).write_text(open(source, encoding="utf-8").read())
    next_number = latest_version() + 1
    (migrations / f"{next_number:03d}_word_count.sql").write_text(
        "-- Stories remember their language.\nALTER TABLE stories ADD COLUMN language TEXT NOT NULL DEFAULT 'en';\n"
    )
    monkeypatch.setattr(db, "MIGRATIONS_DIR", str(migrations))

    with app.app_context():
        version = db.init_db()

    assert version == next_number
    assert sqlite_query(path, "SELECT title, language FROM stories") == [("Old", "en")]


@pytest.mark.sqlite_only
def test_a_failing_migration_changes_nothing(tmp_path, monkeypatch):
    path = str(tmp_path / "failing.db")
    app = create_app({"DATABASE": path})
    with app.app_context():
        db.init_db()
    current = latest_version()
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for number, source in db.migrations():
        (migrations / os.path.basename(source)).write_text(open(source, encoding="utf-8").read())
    (migrations / f"{current + 1:03d}_broken.sql").write_text(
        "CREATE TABLE half_done (id INTEGER);\nALTER TABLE no_such_table ADD COLUMN x INTEGER;\n"
    )
    monkeypatch.setattr(db, "MIGRATIONS_DIR", str(migrations))

    with app.app_context(), pytest.raises(sqlite3.OperationalError):
        db.init_db()

    assert sqlite_query(path, "PRAGMA user_version") == [(current,)]
    assert sqlite_query(path, "SELECT name FROM sqlite_master WHERE name = 'half_done'") == []


# ---- constraints ----------------------------------------------------------------------------------

def test_database_refuses_two_active_backends_for_one_user(app):
    with app.app_context():
        conn = db.get_db()
        user_id = conn.execute("SELECT id FROM users").fetchone()[0]
        conn.execute("INSERT INTO settings (user_id, backend_type, is_active) VALUES (?, 'ollama', 1)", (user_id,))
        conn.execute("INSERT INTO settings (user_id, backend_type, is_active) VALUES (?, 'chatgpt', 0)", (user_id,))
        with pytest.raises(db.IntegrityError):
            conn.execute("INSERT INTO settings (user_id, backend_type, is_active) VALUES (?, 'lmstudio', 1)", (user_id,))
        with pytest.raises(db.IntegrityError):
            conn.execute("UPDATE settings SET is_active = 1 WHERE backend_type = 'chatgpt'")
        with pytest.raises(db.IntegrityError):
            conn.execute("INSERT INTO settings (user_id, backend_type, is_active) VALUES (?, 'ollama', 0)", (user_id,))
    assert query(app, "SELECT backend_type FROM settings WHERE is_active = 1") == [("ollama",)]


# ---- encryption keys --------------------------------------------------------------------------------

def test_rotating_keys_re_encrypts_so_the_old_key_can_be_dropped(tmp_path):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    path = str(tmp_path / "rotate.db")
    app = create_app({"DATABASE": path, "SECRET_KEYS": [key_a]})
    client = app.test_client()
    save_chatgpt(client)
    token_before = stored_token(app)

    app.config["SECRET_KEYS"] = [key_b, key_a]
    crypto.clear_cache()
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 1 stored API key" in result.output

    app.config["SECRET_KEYS"] = [key_b]
    crypto.clear_cache()
    config = client.get("/api/settings/llm").get_json()["config"]
    token_after = stored_token(app)
    assert config["api_key_masked"] == MASK
    assert "key_error" not in config
    assert token_after != token_before
    assert Fernet(key_b).decrypt(token_after.encode()).decode() == KEY
    with pytest.raises(InvalidToken):
        Fernet(key_a).decrypt(token_after.encode())


def test_rotation_without_the_old_key_fails_and_changes_nothing(tmp_path):
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    path = str(tmp_path / "rotate.db")
    app = create_app({"DATABASE": path, "SECRET_KEYS": [key_a]})
    save_chatgpt(app.test_client())
    token_before = stored_token(app)

    app.config["SECRET_KEYS"] = [key_b]
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["rotate-keys"])

    assert result.exit_code != 0
    assert stored_token(app) == token_before


@pytest.fixture
def saved_with_another_key(tmp_path):
    """A database whose stored key was encrypted with a key this server no longer has."""
    path = str(tmp_path / "wrong.db")
    first = create_app({"DATABASE": path, "SECRET_KEYS": [Fernet.generate_key().decode()]})
    save_chatgpt(first.test_client())
    crypto.clear_cache()
    app = create_app({"DATABASE": path, "SECRET_KEYS": [Fernet.generate_key().decode()]})
    return app, path


def test_wrong_key_still_shows_settings_with_a_key_error(saved_with_another_key):
    app, path = saved_with_another_key
    token = stored_token(app)

    response = app.test_client().get("/api/settings/llm")

    assert response.status_code == 200
    config = response.get_json()["config"]
    assert config["api_key_masked"] is None
    assert config["has_api_key"] is True
    assert "cannot be decrypted" in config["key_error"]
    assert stored_token(app) == token
    assert query(app, "SELECT backend_type, is_active FROM settings") == [("chatgpt", 1)]


def test_wrong_key_gives_the_proxy_a_clear_encryption_error(saved_with_another_key, requests_mock):
    app, _ = saved_with_another_key
    upstream = requests_mock.post("https://api.openai.com/v1/chat/completions", json={"choices": []})

    response = app.test_client().post("/proxy/llm/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})

    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "encryption_key_error"
    assert "enter the API key again" in error["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert upstream.call_count == 0


def test_wrong_key_status_and_models_answer_without_a_stack_trace(saved_with_another_key):
    client = saved_with_another_key[0].test_client()

    status = client.get("/api/settings/llm/status")
    models = client.get("/api/settings/llm/models")

    assert status.status_code == 200
    assert status.get_json()["status"] == "error"
    assert "cannot be decrypted" in status.get_json()["error"]
    assert models.status_code == 500
    assert models.get_json()["error"]["code"] == "encryption_key_error"
    assert "Traceback" not in models.get_data(as_text=True)


def test_wrong_key_is_fixed_by_entering_the_api_key_again(saved_with_another_key):
    client = saved_with_another_key[0].test_client()

    config = save_chatgpt(client, KEY)["config"]

    assert config["api_key_masked"] == MASK
    assert "key_error" not in config


def test_malformed_configured_key_is_a_clear_error(tmp_path):
    app = create_app({"DATABASE": str(tmp_path / "bad.db"), "SECRET_KEYS": ["not-a-fernet-key"]})

    response = app.test_client().post("/api/settings/llm", json={"backend_type": "chatgpt", "config": {"api_key": KEY}})

    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "encryption_key_error"
    assert "Fernet" in response.get_json()["error"]["message"]


@pytest.mark.sqlite_only
def test_generated_key_file_is_private_and_reused(tmp_path):
    key_file = tmp_path / "keys" / "secret.key"
    path = str(tmp_path / "generated.db")
    save_chatgpt(create_app({"DATABASE": path, "SECRET_KEY_FILE": str(key_file)}).test_client())

    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert KEY.encode() not in key_file.read_bytes()
    crypto.clear_cache()
    again = create_app({"DATABASE": path, "SECRET_KEY_FILE": str(key_file)})
    assert again.test_client().get("/api/settings/llm").get_json()["config"]["api_key_masked"] == MASK


@pytest.mark.sqlite_only
def test_the_spec_app_fixture_keeps_its_key_out_of_the_instance_folder(app, client):
    save_chatgpt(client)

    key_file = app.config["SECRET_KEY_FILE"]
    assert key_file and os.path.exists(key_file)
    assert not os.path.abspath(key_file).startswith(os.path.abspath(app.instance_path))
    assert app.config["WSL_FALLBACK"] is False


# ---- masking and redaction ------------------------------------------------------------------------

@pytest.mark.parametrize("secret, masked", [
    (None, None),
    ("", None),
    ("abc", "***"),
    ("sk-1234", "*******"),
    ("sk-12345", "sk-****5"),
    ("sk-1234567890abcdef", "sk-***************f"),
])
def test_mask_secret(secret, masked):
    assert crypto.mask_secret(secret) == masked


@pytest.mark.parametrize("text, secrets, redacted", [
    ("Incorrect API key provided: sk-proj-abcdef123456", (), "Incorrect API key provided: sk-pro****"),
    ("key=sk-abcdefghijkl; retry", (), "key=sk-abc****; retry"),
    ("token gsk_Provider0123456789 rejected", ("gsk_Provider0123456789",), "token gsk******************9 rejected"),
    ("twice: sk-aaaaaaaaaa and sk-bbbbbbbbbb", (), "twice: sk-aaa**** and sk-bbb****"),
])
def test_redact_hides_keys(text, secrets, redacted):
    assert crypto.redact(text, secrets) == redacted


def test_redact_leaves_ordinary_text_alone():
    assert crypto.redact("Ollama did not answer at http://localhost:11434 (sk-1)") == \
        "Ollama did not answer at http://localhost:11434 (sk-1)"
    assert crypto.redact("") == ""


def test_redacting_filter_masks_keys_in_log_records():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(crypto.RedactingFilter())
    logger = logging.getLogger("taleweaver.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("upstream said: %s", f"bad key {KEY}")
        logger.warning(f"formatted already {KEY}")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    written = stream.getvalue()
    assert KEY not in written
    assert written.count("sk-pro****") == 2


@pytest.mark.parametrize("key", [KEY, "gsk_KeyOfAnotherShape0123456789"])
def test_logs_never_contain_the_key_when_a_connection_test_fails(client, requests_mock, caplog, monkeypatch, key):
    """The second key is not shaped like an OpenAI key, so only the services' own redaction hides it
    (the RedactingFilter on the log handlers only knows the sk- shape)."""
    caplog.set_level(logging.DEBUG)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.addFilter(crypto.RedactingFilter())
    logging.getLogger().addHandler(handler)
    echo = {"error": {"message": f"Incorrect API key provided: {key}.", "code": "invalid_api_key"}}
    try:
        save_chatgpt(client, key)
        for status in (401, 400, 500):
            requests_mock.get("https://api.openai.com/v1/models", status_code=status, json=echo)
            result = client.post("/api/settings/llm/test", json={"backend_type": "chatgpt"}).get_json()
            assert result["status"] == "error"
        requests_mock.post("https://api.openai.com/v1/chat/completions",
                           text='data: {"error": {"message": "Incorrect API key provided: ' + key + '"}}\n\n')
        streamed = client.post("/proxy/llm/v1/chat/completions",
                               json={"stream": True, "messages": [{"role": "user", "content": "hi"}]})
        assert b'"error"' in streamed.data and streamed.data.endswith(b"data: [DONE]\n\n")
        assert key.encode() not in streamed.data
        def crash(service):
            raise RuntimeError(f"socket closed while sending {key}")

        monkeypatch.setattr(llm_service.OpenAIService, "get_models", crash)
        crashed = client.post("/api/settings/llm/test", json={"backend_type": "chatgpt"}).get_json()
        assert crashed["status"] == "error"
        assert key not in crashed["error"]
    finally:
        logging.getLogger().removeHandler(handler)

    messages = [record.getMessage() for record in caplog.records]
    assert any("stream from the LLM backend failed" in m for m in messages)
    assert any("failed unexpectedly" in m for m in messages)
    for message in messages:
        assert key not in message
        assert key[8:-3] not in message
    assert key not in stream.getvalue()
    assert "failed unexpectedly" in stream.getvalue()
    assert key not in caplog.text


# ---- concurrency and locks -----------------------------------------------------------------------

def run_threads(target, count):
    errors = []

    def guarded(index):
        try:
            target(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def nth_save(thread, i):
    backend_type = "lmstudio" if i % 2 == 0 else "ollama"
    return backend_type, f"http://localhost:{20000 + thread * 100 + i}"


def test_concurrent_saves_of_one_user_leave_one_active_row(app):
    def saver(thread):
        client = app.test_client()
        for i in range(25):
            backend_type, url = nth_save(thread, i)
            response = client.post("/api/settings/llm", json={"backend_type": backend_type, "config": {"url": url}})
            assert response.status_code == 200, response.get_data(as_text=True)
            assert response.get_json()["backend_type"] in ("lmstudio", "ollama")

    run_threads(saver, 8)

    assert query(app, "SELECT count(*) FROM settings WHERE is_active = 1") == [(1,)]
    assert query(app, "SELECT count(*) FROM settings") == [(2,)]
    final = app.test_client().get("/api/settings/llm").get_json()
    assert (final["backend_type"], final["config"]["url"]) in {nth_save(t, 24) for t in range(8)}
    assert final["backends"]["ollama"]["config"]["url"] in {nth_save(t, 23)[1] for t in range(8)}


def test_concurrent_saves_of_many_users_each_keep_their_last_save(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))
    app = create_app({"DATABASE": str(tmp_path / "many.db"), "AUTH_MODE": "multi"})
    with app.app_context():
        for thread in range(8):
            auth.create_user(f"writer{thread}", "a-password")
    tokens = {}
    for thread in range(8):
        login = app.test_client().post("/api/auth/login", json={"username": f"writer{thread}", "password": "a-password"})
        tokens[thread] = {"Authorization": f"Bearer {login.get_json()['token']}"}

    def saver(thread):
        client = app.test_client()
        for i in range(25):
            backend_type, url = nth_save(thread, i)
            response = client.post("/api/settings/llm", headers=tokens[thread],
                                   json={"backend_type": backend_type, "config": {"url": url}, "default_model": f"m{i}"})
            assert response.status_code == 200, response.get_data(as_text=True)
            assert response.get_json()["config"]["url"] == url

    run_threads(saver, 8)

    client = app.test_client()
    for thread in range(8):
        mine = client.get("/api/settings/llm", headers=tokens[thread]).get_json()
        assert (mine["backend_type"], mine["config"]["url"]) == nth_save(thread, 24)
        assert mine["default_model"] == "m24"
        assert mine["backends"]["ollama"]["config"]["url"] == nth_save(thread, 23)[1]
    assert query(app, "SELECT user_id, count(*) FROM settings WHERE is_active = 1 GROUP BY user_id HAVING count(*) != 1") == []
    assert query(app, "SELECT count(DISTINCT user_id) FROM settings WHERE is_active = 1") == [(8,)]


@pytest.mark.sqlite_only
def test_a_briefly_locked_database_delays_a_save_instead_of_failing_it(app, client):
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        conn = sqlite3.connect(app.config["DATABASE"], isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            release.wait(timeout=0.5)
            conn.execute("COMMIT")
        finally:
            conn.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(timeout=10)
    try:
        read = client.get("/api/settings/llm")
        timer = threading.Timer(0.3, release.set)
        timer.start()
        saved = client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {"url": "localhost:11434"}})
    finally:
        release.set()
        holder.join(timeout=10)

    assert read.status_code == 200
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert client.get("/api/settings/llm").get_json()["backend_type"] == "ollama"


@pytest.mark.sqlite_only
def test_a_briefly_locked_database_delays_a_story_save_instead_of_failing_it(app, client):
    conn = sqlite3.connect(app.config["DATABASE"], isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(0.3, lambda: conn.execute("COMMIT"))
    timer.start()
    try:
        response = client.post("/api/stories", json={"content": "Written while the database was busy."})
    finally:
        timer.join()
        conn.close()

    assert response.status_code == 201
    assert len(client.get("/api/stories").get_json()["stories"]) == 1


def test_upstream_failure_does_not_leave_a_settings_transaction_open(client, requests_mock):
    requests_mock.get("http://localhost:11434/api/tags", exc=requests.exceptions.ConnectionError)
    client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}})
    client.post("/api/settings/llm/test", json={"backend_type": "ollama"})

    response = client.post("/api/settings/llm", json={"backend_type": "lmstudio", "config": {}})

    assert response.status_code == 200
    assert response.get_json()["backends"]["ollama"]["last_test"]["status"] == "error"


@pytest.mark.sqlite_only
def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path):
    import stat

    import db as db_module

    path = tmp_path / "fresh.db"
    db_module.connect(str(path)).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_two_migrations_with_one_number_are_refused(tmp_path, monkeypatch):
    import db

    (tmp_path / "005_a.sql").write_text("CREATE TABLE a (x INTEGER);")
    (tmp_path / "005_b.sql").write_text("CREATE TABLE b (x INTEGER);")
    monkeypatch.setattr(db, "MIGRATIONS_DIR", str(tmp_path))

    with pytest.raises(RuntimeError, match="Two migrations are numbered 005"):
        db.migrations()


# ---- the SQLite file in trouble: locked, full ---------------------------------------------------

@pytest.fixture
def story_web(tmp_path, monkeypatch):
    """A client of an app on its own SQLite file, with a story in it; SQLite waits 0.3 s for a lock."""
    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 0.3)
    monkeypatch.setattr(db, "_sqlite_idle", {})  # connections made from here on wait that long
    path = str(tmp_path / "stories.db")
    app = create_app({"DATABASE": path, "TESTING": True})
    with app.app_context():
        db.init_db()
    web = app.test_client()
    story = web.post("/api/stories", json={"premise": "A lighthouse keeper", "content": "The fog came."}).get_json()
    return web, story, path


@pytest.mark.sqlite_only
def test_a_save_while_another_program_holds_the_sqlite_lock_is_a_503_to_retry_and_loses_nothing(story_web):
    web, story, path = story_web
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a backup tool or a database browser writing
    try:
        refused = web.patch(f"/api/stories/{story['id']}", json={"base_revision": story["revision"],
                                                                  "content": "The fog came. It sang."})
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    error = refused.get_json()["error"]
    assert error["code"] == "database_busy" and path in error["message"] and "locked" in error["message"]
    assert "Try again" in error["hint"]
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "The fog came."
    saved = web.patch(f"/api/stories/{story['id']}", json={"base_revision": story["revision"],
                                                            "content": "The fog came. It sang."})
    assert saved.status_code == 200 and saved.get_json()["content"] == "The fog came. It sang."


@pytest.mark.sqlite_only
def test_a_save_when_the_disk_is_full_is_a_503_that_says_so_and_keeps_the_story(story_web, monkeypatch):
    web, story, path = story_web
    connect = db.connect

    def on_a_full_disk(where):  # SQLite may not grow the file by a single page
        conn = connect(where)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(db, "connect", on_a_full_disk)
    monkeypatch.setattr(db, "_sqlite_idle", {})
    refused = web.patch(f"/api/stories/{story['id']}", json={"base_revision": story["revision"],
                                                              "content": "The fog came. " + "It sang. " * 20_000})
    monkeypatch.setattr(db, "connect", connect)
    monkeypatch.setattr(db, "_sqlite_idle", {})

    assert refused.status_code == 503
    error = refused.get_json()["error"]
    assert error["code"] == "database_full" and path in error["message"] and "full" in error["message"]
    assert "Free some space" in error["hint"]
    assert web.get(f"/api/stories/{story['id']}").get_json()["content"] == "The fog came."


def test_an_error_in_the_sql_itself_stays_an_internal_error(app, client, monkeypatch):
    """Only the file's trouble is told as the database's; a mistake in Taleweaver's SQL is ours."""
    from taleweaver.settings import store as settings_store

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("no such column: nonsense")

    monkeypatch.setattr(settings_store, "public_settings", broken)
    answer = client.get("/api/settings/llm")

    assert answer.status_code == 500 and answer.get_json()["error"]["code"] == "internal_error"
    assert "nonsense" not in answer.get_data(as_text=True)
