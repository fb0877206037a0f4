import pytest
import tempfile
import os
from app import create_app
from db import init_db

@pytest.fixture
def app():
    # Create temporary database for testing
    db_fd, db_path = tempfile.mkstemp()
    
    app = create_app()
    app.config['TESTING'] = True
    app.config['DATABASE'] = db_path
    
    with app.app_context():
        init_db()
    
    yield app
    
    os.close(db_fd)
    os.unlink(db_path)

@pytest.fixture
def client(app):
    return app.test_client()

@pytest.fixture
def auth_headers():
    # Mock authentication headers
    return {'Authorization': 'Bearer test_token'}


# ---------------------------------------------------------------------------
# Added to the spec's conftest (everything above is the spec's text, unchanged).
# ---------------------------------------------------------------------------

@pytest.fixture
def m(requests_mock):
    """The spec's service tests take `m` from @requests_mock.Mocker(), which cannot work under
    pytest (pytest looks for a fixture named `m` first); requests-mock's own fixture is `m` here."""
    return requests_mock


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """Every test gets its own encryption key file and no TALEWEAVER_* settings from the shell,
    so the spec's `create_app()` never touches the developer's instance folder."""
    for name in list(os.environ):
        if name.startswith("TALEWEAVER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TALEWEAVER_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("TALEWEAVER_WSL_FALLBACK", "0")
    _use_test_database(monkeypatch.setenv)
    yield
    for suffix in ("-wal", "-shm"):
        for leftover in tmp_path.glob("*" + suffix):
            leftover.unlink()


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment_before_the_app_fixture(tmp_path_factory):
    """pytest-flask's own autouse fixtures create the spec's `app` before any function-scoped
    autouse fixture runs, so `_isolated_environment` comes too late for it: without this, the spec's
    `create_app()` generated its key in the developer's backend/instance/ and read TALEWEAVER_*
    settings (WSL fallback included) from the shell."""
    patch = pytest.MonkeyPatch()
    for name in list(os.environ):
        if name.startswith("TALEWEAVER_"):
            patch.delenv(name)
    patch.setenv("TALEWEAVER_SECRET_KEY_FILE", str(tmp_path_factory.mktemp("keys") / "secret.key"))
    patch.setenv("TALEWEAVER_WSL_FALLBACK", "0")
    _use_test_database(patch.setenv)
    yield
    patch.undo()


# ---------------------------------------------------------------------------
# The PostgreSQL pass: with TALEWEAVER_TEST_DATABASE_URL set (run_tests.sh sets it to a
# throwaway cluster, tests/postgres_cluster.py), every test runs on PostgreSQL in a schema of
# its own, made before pytest-flask creates the spec's `app`; SQLite otherwise.
# ---------------------------------------------------------------------------
TEST_DATABASE_URL = os.environ.get("TALEWEAVER_TEST_DATABASE_URL")
# Shared by every test of the pass, as instances sharing one database must share it.
TEST_SECRET_KEY = "bZQ3sXHa6Y3m0D6J8ZfUEdFGLd_Qx4CnY0Xu7P0ajAw="
_current = {"url": None, "count": 0}


def on_postgres() -> bool:
    return TEST_DATABASE_URL is not None


def _use_test_database(setenv) -> None:
    if _current["url"]:
        setenv("TALEWEAVER_DATABASE_URL", _current["url"])
        setenv("TALEWEAVER_SECRET_KEYS", TEST_SECRET_KEY)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if not on_postgres():
        return
    if item.get_closest_marker("sqlite_only"):
        pytest.skip("this test is about the SQLite file; the SQLite pass runs it")
    import psycopg
    from urllib.parse import quote

    _current["count"] += 1
    schema = f"test_{os.getpid()}_{_current['count']}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    _current["url"] = TEST_DATABASE_URL + "&options=" + quote(f"-csearch_path={schema}", safe="")
    _use_test_database(os.environ.__setitem__)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    if on_postgres():
        import db

        db.close_pools()


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: a test of the SQLite file itself, skipped in the PostgreSQL pass")


@pytest.fixture
def empty_postgres_url():
    """The URL of a new, empty schema of the PostgreSQL pass's database (skipped on SQLite)."""
    if not on_postgres():
        pytest.skip("needs the PostgreSQL pass (TALEWEAVER_TEST_DATABASE_URL)")
    import psycopg
    from urllib.parse import quote

    _current["count"] += 1
    schema = f"empty_{os.getpid()}_{_current['count']}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return TEST_DATABASE_URL + "&options=" + quote(f"-csearch_path={schema}", safe="")


@pytest.fixture(autouse=True)
def _requests_transport():
    """The backend tests mock HTTP with requests-mock (the spec's §6 tests as written), which
    only sees what goes through `requests`: here every test makes the requests transport
    (tests/transports.py) the process default. Tests that run the production transport say so:
    the `fake_llm` fixture."""
    from taleweaver.llm import http_client
    from tests.transports import RequestsTransport

    with http_client.using(RequestsTransport()):
        yield


@pytest.fixture(autouse=True)
def _server_kinds_asked_afresh():
    """The kind of OpenAI-compatible server at an address is kept for minutes (llm/backends/
    openai_compatible_service.py), and whether an Ollama gives log-probabilities
    (ollama_logprobs.py); tests that put different servers at one address ask afresh."""
    from taleweaver.llm.backends import ollama_logprobs, openai_compatible_service

    openai_compatible_service.forget_server_kind()
    ollama_logprobs.forget()
    yield


def _load_fakes():
    """tests/fakes of the repository root (a package named `tests` here is backend/tests)."""
    import importlib.util
    import pathlib
    import sys

    if "taleweaver_fakes" in sys.modules:
        return sys.modules["taleweaver_fakes"]
    root = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fakes"
    spec = importlib.util.spec_from_file_location(
        "taleweaver_fakes", root / "__init__.py", submodule_search_locations=[str(root)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["taleweaver_fakes"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fakes():
    """tests/fakes of the repository root: the fake LLM servers, the recording proxy and
    throwaway certificates."""
    return _load_fakes()


@pytest.fixture
def fake_llm(_requests_transport):
    """Start fake LLM servers (tests/fakes: real HTTP on loopback, each backend's wire format);
    all are stopped after the test. The services talk to them through the production transport
    (http_client.EnvironmentTransport, which reaches every loopback server over its keep-alive
    sockets); the urllib3 one it uses through a proxy has tests of its own
    (test_proxy_environment.py)."""
    from taleweaver.llm import http_client

    fakes = _load_fakes()
    started = []

    def start(kind: str, **options):
        fake = fakes.FakeLLMServer(kind, **options).start()
        started.append(fake)
        return fake

    with http_client.using(http_client.EnvironmentTransport()) as production:
        yield start
    production.close()
    for fake in started:
        fake.stop()
