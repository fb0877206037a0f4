"""Multi-user mode (login, isolation between users, rate limit, CLI), stories, and the bind check."""

import pytest
from werkzeug.security import generate_password_hash

from taleweaver.web import auth
from app import check_bind_address, create_app
from tests.database import query

ANN_KEY = "sk-proj-AnnsOwnKey0123456789abcdefXYZ"


@pytest.fixture(autouse=True)
def _quick_password_hashing(monkeypatch):
    """scrypt takes 0.1 s a hash on purpose; these tests are about who may do what, not hashing."""
    monkeypatch.setattr(auth, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1000"))


@pytest.fixture
def multi_app(tmp_path):
    app = create_app({"DATABASE": str(tmp_path / "multi.db"), "AUTH_MODE": "multi", "TESTING": True})
    with app.app_context():
        auth.create_user("ann", "ann-password")
        auth.create_user("bob", "bob-password")
    return app


@pytest.fixture
def anon(multi_app):
    return multi_app.test_client()


def login(client, username, password):
    return client.post("/api/auth/login", json={"username": username, "password": password})


def bearer(client, username):
    response = login(client, username, f"{username}-password")
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@pytest.fixture
def ann(anon):
    return bearer(anon, "ann")


@pytest.fixture
def bob(anon):
    return bearer(anon, "bob")


# ---- logging in --------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/api/settings/llm"),
    ("POST", "/api/settings/llm"),
    ("GET", "/api/settings/llm/status"),
    ("GET", "/api/stories"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/logout"),
])
def test_api_without_a_token_is_401_json(anon, method, path):
    response = anon.open(path, method=method, json={})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("method, path", [
    ("GET", "/proxy/llm/v1/models"),
    ("POST", "/proxy/llm/v1/chat/completions"),
    ("GET", "/proxy/lmstudio/v1/models"),
])
def test_proxy_without_a_token_is_401_in_openai_shape(anon, method, path):
    response = anon.open(path, method=method, json={"messages": [{"role": "user", "content": "hi"}]})

    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "unauthorized"
    assert "type" in error and "param" in error


def test_a_made_up_token_is_401(anon):
    response = anon.get("/api/settings/llm", headers={"Authorization": "Bearer not-a-real-token"})

    assert response.status_code == 401


def test_mode_and_health_are_public(anon):
    assert anon.get("/api/auth/mode").get_json() == {"mode": "multi"}
    assert anon.get("/api/health").status_code == 200


@pytest.mark.parametrize("username, password", [("ann", "wrong-password"), ("nobody", "ann-password")])
def test_login_with_wrong_credentials_is_401(anon, username, password):
    response = login(anon, username, password)

    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == "Wrong username or password."
    assert "token" not in response.get_json()


@pytest.mark.parametrize("body, field", [({"password": "x"}, "username"), ({"username": "ann"}, "password")])
def test_login_without_username_or_password_names_the_field(anon, body, field):
    response = anon.post("/api/auth/login", json=body)

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_login_gives_a_token_that_identifies_the_user(anon):
    response = login(anon, "ann", "ann-password")

    body = response.get_json()
    assert body["user"]["username"] == "ann"
    me = anon.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"}).get_json()
    assert me == {"id": body["user"]["id"], "username": "ann", "mode": "multi"}


def test_logout_revokes_the_token(anon, ann):
    assert anon.post("/api/auth/logout", headers=ann).status_code == 204

    assert anon.get("/api/auth/me", headers=ann).status_code == 401
    assert anon.get("/api/settings/llm", headers=ann).status_code == 401


def test_logout_of_one_session_keeps_the_other(anon):
    phone, laptop = bearer(anon, "ann"), bearer(anon, "ann")

    anon.post("/api/auth/logout", headers=phone)

    assert anon.get("/api/auth/me", headers=laptop).status_code == 200


def test_login_attempts_are_rate_limited(multi_app, anon):
    multi_app.config["LOGIN_ATTEMPTS_PER_MINUTE"] = 3
    for _ in range(3):
        assert login(anon, "ann", "guess").status_code == 401

    response = login(anon, "ann", "ann-password")

    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    assert login(anon, "bob", "bob-password").status_code == 200


def test_login_in_single_user_mode_says_none_is_needed(client):
    response = login(client, "local", "x")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "single_user_mode"


def test_single_user_mode_needs_no_token(client):
    assert client.get("/api/auth/me").get_json()["username"] == "local"
    assert client.get("/api/auth/mode").get_json() == {"mode": "single"}


def test_create_user_cli_makes_an_account_that_can_log_in(multi_app, anon):
    runner = multi_app.test_cli_runner()
    with multi_app.app_context():
        result = runner.invoke(args=["create-user", "cleo"], input="cleo-password\ncleo-password\n")

    assert result.exit_code == 0, result.output
    assert "Created user 'cleo'" in result.output
    assert login(anon, "cleo", "cleo-password").status_code == 200
    ((stored,),) = query(multi_app, "SELECT password_hash FROM users WHERE username = 'cleo'")
    assert "cleo-password" not in stored


@pytest.mark.parametrize("args, message", [
    (["create-user", "ann", "--password", "another-password"], "already exists"),
    (["create-user", "dora", "--password", "short"], "at least 8 characters"),
])
def test_create_user_cli_refuses_duplicates_and_short_passwords(multi_app, args, message):
    runner = multi_app.test_cli_runner()
    with multi_app.app_context():
        result = runner.invoke(args=args)

    assert result.exit_code != 0
    assert message in result.output


# ---- users cannot see or touch each other's data --------------------------------------------

def test_users_cannot_read_each_others_settings_or_keys(anon, ann, bob):
    saved = anon.post("/api/settings/llm", headers=ann,
                      json={"backend_type": "chatgpt", "config": {"api_key": ANN_KEY}, "default_model": "gpt-4o"})
    mask = saved.get_json()["config"]["api_key_masked"]
    assert saved.status_code == 200 and mask

    responses = [
        anon.get("/api/settings/llm", headers=bob),
        anon.get("/api/settings/llm/status", headers=bob),
        anon.get("/api/settings/llm/models", headers=bob),
        anon.get("/api/settings/llm/models?backend_type=chatgpt", headers=bob),
        anon.post("/api/settings/llm/test", headers=bob, json={"backend_type": "chatgpt"}),
    ]

    assert responses[0].get_json()["backend_type"] is None
    assert responses[0].get_json()["backends"] == {}
    assert responses[1].get_json()["status"] == "not_configured"
    assert responses[3].status_code == 400
    assert responses[4].status_code == 400
    assert responses[4].get_json()["error"]["field"] == "config.api_key"
    for response in responses:
        text = response.get_data(as_text=True)
        assert mask not in text
        assert ANN_KEY not in text


def test_users_cannot_change_each_others_settings(anon, ann, bob):
    anon.post("/api/settings/llm", headers=ann,
              json={"backend_type": "chatgpt", "config": {"api_key": ANN_KEY}, "default_model": "gpt-4o"})

    anon.post("/api/settings/llm", headers=bob,
              json={"backend_type": "chatgpt", "config": {"api_key": "sk-bobs-key-0000000000"}, "default_model": "gpt-3.5"})
    anon.post("/api/settings/llm", headers=bob, json={"backend_type": "ollama", "config": {}})

    mine = anon.get("/api/settings/llm", headers=ann).get_json()
    assert mine["backend_type"] == "chatgpt"
    assert mine["default_model"] == "gpt-4o"
    assert mine["config"]["api_key_masked"].endswith("Z")
    assert set(mine["backends"]) == {"chatgpt"}
    assert anon.get("/api/settings/llm", headers=bob).get_json()["backend_type"] == "ollama"


def test_proxy_uses_only_the_callers_backend(anon, ann, bob, requests_mock):
    lmstudio = requests_mock.post("http://localhost:1234/v1/chat/completions", json={"choices": [{"message": {"content": "ann's"}}]})
    ollama = requests_mock.post("http://localhost:11434/api/chat", json={"message": {"role": "assistant", "content": "bob's"}, "done": True})
    anon.post("/api/settings/llm", headers=ann, json={"backend_type": "lmstudio", "config": {}, "default_model": "qwen"})
    chat = {"messages": [{"role": "user", "content": "hi"}]}

    nothing = anon.post("/proxy/llm/v1/chat/completions", headers=bob, json=chat)
    assert nothing.status_code == 400
    assert nothing.get_json()["error"]["code"] == "backend_not_configured"

    anon.post("/api/settings/llm", headers=bob, json={"backend_type": "ollama", "config": {}, "default_model": "llama2"})
    answer = anon.post("/proxy/llm/v1/chat/completions", headers=bob, json=chat)

    assert answer.get_json()["choices"][0]["message"]["content"] == "bob's"
    assert answer.headers["X-Taleweaver-Backend"] == "ollama"
    assert (lmstudio.call_count, ollama.call_count) == (0, 1)
    assert anon.post("/proxy/llm/v1/chat/completions", headers=ann, json=chat).headers["X-Taleweaver-Model"] == "qwen"


def test_users_cannot_read_or_delete_each_others_stories(anon, ann, bob):
    story = anon.post("/api/stories", headers=ann, json={"title": "Ann's dragon", "content": "A dragon."}).get_json()

    assert anon.get(f"/api/stories/{story['id']}", headers=bob).status_code == 404
    assert anon.delete(f"/api/stories/{story['id']}", headers=bob).status_code == 404
    assert anon.get("/api/stories", headers=bob).get_json() == {"stories": []}
    assert anon.get(f"/api/stories/{story['id']}", headers=ann).get_json()["title"] == "Ann's dragon"


def test_multi_user_mode_refuses_backend_hosts_outside_the_allowlist(anon, ann):
    response = anon.post("/api/settings/llm", headers=ann,
                         json={"backend_type": "ollama", "config": {"url": "http://169.254.169.254"}})

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "config.url"
    assert anon.post("/api/settings/llm", headers=ann,
                     json={"backend_type": "ollama", "config": {"url": "http://127.0.0.1:11434"}}).status_code == 200


# ---- stories ----------------------------------------------------------------------------------

def test_creating_a_story_answers_201_with_all_fields(client):
    response = client.post("/api/stories", json={
        "title": "The Lighthouse", "prompt": "A lighthouse keeper", "content": "The lamp went dark.",
        "backend_type": "ollama", "model": "llama2"})

    assert response.status_code == 201
    story = response.get_json()
    assert story["title"] == "The Lighthouse"
    assert story["prompt"] == "A lighthouse keeper"
    assert story["content"] == "The lamp went dark."
    assert story["backend_type"] == "ollama" and story["model"] == "llama2"
    assert isinstance(story["id"], int)
    assert "user_id" not in story


def test_story_title_defaults_to_its_first_line(client):
    story = client.post("/api/stories", json={"content": "\n  The Long Night\nIt was dark.\n", "title": "  "}).get_json()

    assert story["title"] == "The Long Night"


def test_stories_are_listed_newest_first_with_an_excerpt(client):
    first = client.post("/api/stories", json={"title": "First", "content": "a" * 500}).get_json()
    second = client.post("/api/stories", json={"title": "Second", "content": "Short tale."}).get_json()

    stories = client.get("/api/stories").get_json()["stories"]

    assert [s["id"] for s in stories] == [second["id"], first["id"]]
    assert stories[1]["excerpt"] == "a" * 200
    assert stories[0]["excerpt"] == "Short tale."
    assert "content" not in stories[0]


def test_a_story_can_be_read_then_deleted(client):
    story = client.post("/api/stories", json={"content": "Once."}).get_json()

    assert client.get(f"/api/stories/{story['id']}").get_json()["content"] == "Once."
    assert client.delete(f"/api/stories/{story['id']}").status_code == 204
    assert client.get(f"/api/stories/{story['id']}").status_code == 404
    assert client.delete(f"/api/stories/{story['id']}").status_code == 404
    assert client.get("/api/stories").get_json() == {"stories": []}


def test_unknown_story_is_404_json(client):
    response = client.get("/api/stories/9999")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("body, field", [
    ({"title": "No premise, no text"}, "premise"),
    ({"content": "   \n ", "premise": " "}, "premise"),
    ({"content": 42}, "content"),
    ({"content": "x", "title": "t" * 201}, "title"),
    ({"content": "x", "backend_type": "koboldcpp"}, "backend_type"),
    ({"content": "x", "model": ["llama2"]}, "model"),
])
def test_invalid_story_is_refused_naming_the_field(client, body, field):
    response = client.post("/api/stories", json=body)

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    assert client.get("/api/stories").get_json() == {"stories": []}


# ---- where the server may listen ----------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.lan"])
def test_single_user_mode_refuses_to_listen_beyond_this_machine(host):
    with pytest.raises(SystemExit) as caught:
        check_bind_address(host, create_app())

    assert "TALEWEAVER_AUTH_MODE=multi" in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_single_user_mode_listens_on_loopback(host):
    check_bind_address(host, create_app())


def test_single_user_mode_listens_everywhere_when_the_operator_says_so():
    check_bind_address("0.0.0.0", create_app({"ALLOW_REMOTE_SINGLE_USER": True}))


def test_multi_user_mode_may_listen_everywhere():
    check_bind_address("0.0.0.0", create_app({"AUTH_MODE": "multi"}))
