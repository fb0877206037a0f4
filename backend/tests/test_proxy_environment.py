"""A user behind a company proxy: HTTPS_PROXY / HTTP_PROXY / NO_PROXY read as requests reads them,
loopback backends always reached directly, remote ones through the proxy (CONNECT and TLS for
https, absolute-form for http) with the credentials of the proxy's URL, the trusted certificates
extended by SSL_CERT_FILE or REQUESTS_CA_BUNDLE, and a proxy that refuses or wants credentials
told apart. The proxy is tests/fakes/proxy.py on loopback; `api.example.test` resolves only there.
(The same through the real server: tests/system/test_environment_proxy.py.)"""
from __future__ import annotations

import base64
import json

import pytest

from llm_service import LMStudioService, OllamaService, OpenAIService
from taleweaver.llm import http_client, proxy_environment
from taleweaver.llm.backends.openai_compatible_service import OpenAICompatibleService
from taleweaver.llm.errors import BackendTimeout
from taleweaver.llm.socket_transport import SocketTransport

REMOTE = "api.example.test"
USER, PASSWORD = "tale weaver", "p@ss:w0rd"  # percent-encoded in the proxy's URL
REPLY = "The fox crossed the river by the old bridge."
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                   "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def no_proxy_from_the_shell(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# ---- which proxy the environment names -----------------------------------------------------

def test_https_backends_use_https_proxy_and_http_ones_http_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "plain-proxy.corp:8080")  # no scheme: http://, as requests reads it

    secure = proxy_environment.proxy_for("https://api.openai.com/v1/models")
    plain = proxy_environment.proxy_for("http://llm.corp:8000/v1/models")

    assert (secure.url, secure.variable) == ("http://secure-proxy.corp:3128", "HTTPS_PROXY")
    assert (plain.url, plain.variable) == ("http://plain-proxy.corp:8080", "HTTP_PROXY")


def test_the_lower_case_variable_wins_as_in_requests(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://upper.corp:1")
    monkeypatch.setenv("https_proxy", "http://lower.corp:2")
    chosen = proxy_environment.proxy_for("https://api.openai.com/v1/models")
    assert (chosen.url, chosen.variable) == ("http://lower.corp:2", "https_proxy")


@pytest.mark.parametrize("no_proxy_name", ["NO_PROXY", "no_proxy"])
@pytest.mark.parametrize("url, direct", [
    ("http://llm.lan:8080/v1/models", True),             # a host name
    ("https://gpu1.lab.corp.example/v1/models", True),    # a domain suffix
    ("http://10.20.30.40:11434/api/tags", True),          # inside a network
    ("http://192.168.1.5:1234/v1/models", True),          # an address
    ("http://192.168.1.6:1234/v1/models", False),
    ("https://api.openai.com/v1/models", False),
    ("https://notcorp.example/v1/models", False),
])
def test_no_proxy_names_hosts_domain_suffixes_addresses_and_networks(monkeypatch, no_proxy_name, url, direct):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv(no_proxy_name, "llm.lan, .lab.corp.example,10.0.0.0/8,192.168.1.5")
    assert (proxy_environment.proxy_for(url) is None) is direct


@pytest.mark.parametrize("url", ["http://localhost:11434/api/tags", "http://127.0.0.1:1234/v1/models",
                                 "http://127.9.8.7:8080/v1/models", "http://[::1]:1234/v1/models",
                                 "http://ollama.localhost:11434/api/tags"])
def test_a_loopback_backend_is_never_proxied_whatever_no_proxy_says(monkeypatch, url):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "only.other.example")
    assert proxy_environment.proxy_for(url) is None
    assert isinstance(http_client.EnvironmentTransport().route(url), SocketTransport)


def test_credentials_in_the_proxy_url_become_proxy_authorization_and_stay_out_of_its_address(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://tale%20weaver:p%40ss%3Aw0rd@proxy.corp:3128")
    chosen = proxy_environment.proxy_for("https://api.openai.com/v1/models")
    assert chosen.url == "http://proxy.corp:3128"
    assert chosen.headers() == {"proxy-authorization": "Basic " + base64.b64encode(b"tale weaver:p@ss:w0rd").decode()}
    assert "w0rd" not in repr(chosen) and "w0rd" not in chosen.url


# ---- through the recording proxy -----------------------------------------------------------

@pytest.fixture
def proxied(monkeypatch, tmp_path, fakes, fake_llm):
    """A recording proxy that wants credentials and alone resolves api.example.test; the
    environment names it with them, and trusts a throwaway certificate authority whose server
    certificate the https fakes use. Yields a function starting a fake on api.example.test."""
    authority = fakes.CertificateAuthority(str(tmp_path))
    tls = authority.server_context([REMOTE])
    proxy = fakes.RecordingProxy({REMOTE: "127.0.0.1"}, credentials=(USER, PASSWORD)).start()
    address = f"http://tale%20weaver:p%40ss%3Aw0rd@127.0.0.1:{proxy.port}"
    monkeypatch.setenv("HTTPS_PROXY", address)
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.setenv("SSL_CERT_FILE", authority.ca_file)

    def remote(kind: str, secure: bool = True, **options):
        fake = fake_llm(kind, tls=tls if secure else None, **options)
        base = f"{'https' if secure else 'http'}://{REMOTE}:{fake.port}"
        return fake, base + ("/v1" if kind in ("chatgpt", "openai_compatible") else "")

    with http_client.using(http_client.EnvironmentTransport()) as production:
        yield remote, proxy, authority
    production.close()
    proxy.stop()


def service_for(kind: str, url: str, **options):
    if kind == "chatgpt":
        return OpenAIService("sk-proxied-test-key-0001", url, wsl_fallback=False, **options)
    cls = {"lmstudio": LMStudioService, "ollama": OllamaService, "openai_compatible": OpenAICompatibleService}[kind]
    return cls(url, wsl_fallback=False, **options)


def streamed_text(chunks) -> str:
    parsed = [json.loads(c) if isinstance(c, bytes) else c for c in chunks]
    return "".join((choice.get("delta") or {}).get("content") or "" for c in parsed for choice in c.get("choices") or [])


def said_to_the_user(result: dict) -> str:
    return json.dumps(result)


@pytest.mark.parametrize("kind, secure", [("chatgpt", True), ("openai_compatible", True),
                                          ("lmstudio", False), ("ollama", False)])
def test_a_remote_backend_lists_and_chats_through_the_proxy(proxied, kind, secure):
    remote, proxy, _ = proxied
    fake, url = remote(kind, secure, reply=REPLY, api_key="sk-proxied-test-key-0001" if kind == "chatgpt" else None)
    service = service_for(kind, url)
    message = {"model": fake.models[0], "messages": [{"role": "user", "content": "hi"}]}

    assert fake.models[0] in service.get_models()
    assert service.chat_completion(message)["choices"][0]["message"]["content"] == REPLY
    assert streamed_text(service.chat_completion(message, stream=True)) == REPLY

    lines = [r["line"] for r in proxy.requests]
    if secure:  # one tunnel, kept alive for every request
        assert lines == [f"CONNECT {REMOTE}:{fake.port} HTTP/1.0"]
    else:  # absolute-form: each request line goes to the proxy
        assert len(lines) == 3 and all(line.startswith(f"GET http://{REMOTE}:{fake.port}/") or
                                       line.startswith(f"POST http://{REMOTE}:{fake.port}/") for line in lines)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert {r["proxy_authorization"] for r in proxy.requests} == {expected}


def test_a_loopback_backend_is_reached_directly_with_the_proxy_set(proxied, fake_llm):
    _, proxy, _ = proxied
    fake = fake_llm("ollama")
    assert OllamaService(fake.url, wsl_fallback=False).test_connection()["status"] == "connected"
    assert proxy.requests == []


@pytest.mark.parametrize("secure, variable", [(True, "HTTPS_PROXY"), (False, "HTTP_PROXY")])
def test_a_proxy_asking_for_credentials_is_proxy_auth_required_naming_the_variable(proxied, secure, variable):
    remote, proxy, _ = proxied
    fake, url = remote("openai_compatible", secure)
    proxy.set_mode("auth_required")

    result = service_for("openai_compatible", url).test_connection()

    assert result["status"] == "error" and result["error_code"] == "proxy_auth_required"
    assert variable in result["error"] and variable in result["hint"]
    assert "refused the user name and password" in result["error"]
    assert [s["name"] for s in result["steps"] if s["status"] == "failed"] == ["connect"]
    assert PASSWORD not in said_to_the_user(result) and "p%40ss" not in said_to_the_user(result)


def test_a_proxy_wanting_credentials_none_were_given_for_says_so(proxied, monkeypatch):
    remote, proxy, _ = proxied
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    fake, url = remote("chatgpt", api_key="sk-proxied-test-key-0001")
    with http_client.using(http_client.EnvironmentTransport()):
        result = service_for("chatgpt", url).test_connection()
    assert result["error_code"] == "proxy_auth_required"
    assert "its URL has none" in result["error"] and "http://user:password@host:port" in result["hint"]


def test_a_proxy_that_refuses_the_connection_to_the_backend_is_proxy_refused(proxied):
    remote, proxy, _ = proxied
    fake, url = remote("chatgpt", api_key="sk-proxied-test-key-0001")
    proxy.set_mode("refuse")

    result = service_for("chatgpt", url).test_connection()

    assert result["error_code"] == "proxy_refused"
    assert f"refused to connect to {REMOTE} (HTTP 403 Forbidden)" in result["error"]
    assert "HTTPS_PROXY" in result["error"] and "NO_PROXY" in result["hint"]
    assert PASSWORD not in said_to_the_user(result)


def test_a_proxy_that_is_not_running_is_proxy_refused(proxied):
    remote, proxy, _ = proxied
    fake, url = remote("chatgpt", api_key="sk-proxied-test-key-0001")
    proxy.stop()

    result = service_for("chatgpt", url).test_connection()

    assert result["error_code"] == "proxy_refused"
    assert f"The proxy http://127.0.0.1:{proxy.port} (from HTTPS_PROXY) refused the connection" in result["error"]
    assert PASSWORD not in said_to_the_user(result) and USER not in said_to_the_user(result)


def test_a_stream_through_the_proxy_that_goes_silent_ends_with_the_idle_timeout(proxied):
    remote, _, _ = proxied
    fake, url = remote("openai_compatible", reply=REPLY)
    fake.set_fault("stall_after_chunks", chunks=2, seconds=5)
    service = service_for("openai_compatible", url, idle_timeout=0.3)

    chunks = service.chat_completion({"model": fake.models[0], "messages": [{"role": "user", "content": "hi"}]},
                                     stream=True)
    with pytest.raises(BackendTimeout, match="stopped sending for 0.3 s in the middle"):
        list(chunks)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_requests_ca_bundle_extends_the_trusted_certificates(proxied, monkeypatch, variable):
    remote, _, authority = proxied
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv(variable, authority.ca_file)
    fake, url = remote("chatgpt", api_key="sk-proxied-test-key-0001")
    with http_client.using(http_client.EnvironmentTransport()):
        assert service_for("chatgpt", url).test_connection()["status"] == "connected"


def test_a_certificate_no_variable_trusts_is_untrusted_and_the_hint_names_them(proxied, monkeypatch):
    remote, _, _ = proxied
    monkeypatch.delenv("SSL_CERT_FILE")
    fake, url = remote("chatgpt", api_key="sk-proxied-test-key-0001")
    with http_client.using(http_client.EnvironmentTransport()):
        result = service_for("chatgpt", url).test_connection()
    assert result["error_code"] == "tls_certificate_untrusted"
    assert "SSL_CERT_FILE" in result["hint"] and "REQUESTS_CA_BUNDLE" in result["hint"]


def test_a_socks_proxy_is_refused_with_what_to_use_instead(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with http_client.using(http_client.EnvironmentTransport()):
        result = OpenAIService("sk-proxied-test-key-0001", f"https://{REMOTE}/v1", wsl_fallback=False).test_connection()
    assert result["error_code"] == "proxy_refused"
    assert "socks5://" in result["error"] and "http:// and https:// proxies only" in result["error"]
