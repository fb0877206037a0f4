"""Fake LLM servers that speak the real wire formats of Ollama, LM Studio, OpenAI and llama.cpp.

Stdlib only. One ``FakeLLMServer`` is one real HTTP/1.1 server on a loopback
address, run in a background thread. See ``tests/fakes/README.md``.

Wire formats (what a real server sends, which is what the fakes send):

* Ollama: ``GET /`` -> ``Ollama is running``; ``GET /api/version``; ``GET /api/tags``;
  ``GET /api/ps``; ``POST /api/chat`` streams NDJSON (``application/x-ndjson``, chunked)
  unless ``"stream": false``; the last object has ``done: true``, ``done_reason`` and
  the counters/durations (nanoseconds). Errors are ``{"error": "<text>"}``; an unknown
  model is 404 ``model "x" not found, try pulling it first``; an unknown path is
  404 ``404 page not found`` (text/plain, gin's default).
* LM Studio: OpenAI-compatible ``/v1/models`` and ``/v1/chat/completions`` plus its
  REST API ``/api/v0/models[/{id}]`` and ``/api/v0/chat/completions``. Errors are
  ``{"error": {"message", "type", "param", "code"}}`` (sometimes a bare string); an unknown
  model is 400 ``Invalid model identifier "x". Please specify a valid downloaded model (e.g., ...)``.
* OpenAI (kind ``chatgpt``): ``/v1/models[/{id}]`` and ``/v1/chat/completions``; streaming is
  SSE (``data: {chunk}\\n\\n`` ... ``data: [DONE]\\n\\n``); errors are
  ``{"error": {"message", "type", "param", "code"}}``.
* llama.cpp's llama-server (kind ``openai_compatible``): ``/health``, ``/props``
  (``default_generation_settings.n_ctx``), ``/v1/models`` and ``/v1/chat/completions`` (also
  without ``/v1``) serving its one model whatever the request names; the last streamed chunk
  carries ``timings``; errors are ``{"error": {"code", "message", "type"}}``
  (``exceed_context_size_error`` with ``n_prompt_tokens``/``n_ctx``, 503 ``Loading model``);
  ``POST /tokenize`` (``content``, ``add_special``) answers ``{"tokens": [...]}``; ``/props`` has
  the model's ``chat_template`` and ``POST /apply-template`` renders messages in it. With
  ``server="vllm"`` or ``"koboldcpp"`` the fake is that kind of server instead (openai_servers.py).
* Text completion on every kind: OpenAI's ``/v1/completions`` and Ollama's ``/api/generate``
  (completions.py).

Each kind is a handler class (``HANDLERS``) with its routes, error bodies and key check.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import ipaddress
import json
import math
import re
import select
import socket
import ssl
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import unquote, urlsplit

from . import logprobs
from .completions import CompletionRoutes
from .openai_servers import LLAMA_BUILD, KoboldCppRoutes, LlamaServerCompletions, VLLMRoutes

# The Jinja chat template llama-server reports in /props for the fake's model (Qwen2.5's ChatML, shortened).
LLAMA_CHAT_TEMPLATE = ("{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + "
                       "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
                       "{%- endif %}")

__all__ = [
    "FakeLLMServer",
    "KINDS",
    "DEFAULT_MODELS",
    "DEFAULT_PORTS",
    "DEFAULT_REPLY",
    "FAULT_NAMES",
    "mask_api_key",
]

KINDS = ("ollama", "lmstudio", "chatgpt", "openai_compatible")

DEFAULT_MODELS: Dict[str, List[str]] = {
    "ollama": ["llama3.2:3b", "mistral:7b"],
    "lmstudio": ["qwen2.5-7b-instruct", "llama-3.2-3b-instruct"],
    "chatgpt": ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"],
    # llama-server serves the one model it was started with, named after its file (or --alias).
    "openai_compatible": ["qwen2.5-7b-instruct-q4_k_m.gguf"],
}

# The model a vLLM or KoboldCpp fake serves, named as those servers name it.
SERVER_MODELS = {"vllm": ["Qwen/Qwen2.5-7B-Instruct"], "koboldcpp": ["koboldcpp/qwen2.5-7b-instruct-q4_k_m"]}

DEFAULT_PORTS = {"ollama": 11434, "lmstudio": 1234, "chatgpt": 8089, "openai_compatible": 8080}

DEFAULT_CONTEXT = {"openai_compatible": 4096}  # llama-server's default --ctx-size
LMSTUDIO_LOADED_CONTEXT = 4096  # LM Studio's default context when a model is loaded

# OpenAI's models served on /v1/completions; any other is a chat model there.
COMPLETION_MODEL_PREFIXES = ("gpt-3.5-turbo-instruct", "davinci-002", "babbage-002")

DEFAULT_REPLY = (
    "Once upon a time, in a valley where the rivers sang at night, a young weaver "
    "named Mira found a thread of silver light caught in her loom. She followed it "
    "through the sleeping village, over the old stone bridge and into the forest, "
    "where the trees whispered the names of every story ever told. At the end of the "
    "thread waited a fox with ink-dark paws, who asked her for a tale of her own. "
    "Mira smiled, sat down on the moss, and began to weave. The end."
)

OLLAMA_VERSION = "0.6.5"

# Filler for large_reply: ASCII only, so characters == bytes.
_LARGE_FILLER = (
    "The lantern-maker's apprentice counted the stars again, because the sky over "
    "the harbour had changed and nobody else had noticed. "
)
_LARGE_PIECE = 1024  # bytes per streamed piece for large_reply

FAULT_NAMES = (
    "delay_headers",
    "stall_after_chunks",
    "status",
    "die_after_chunks",
    "malformed_after_chunks",
    "large_reply",
    "no_model_loaded",
    "model_loading",
    "unbroken_line",
)

_STREAM_FAULTS = ("stall_after_chunks", "die_after_chunks", "malformed_after_chunks", "unbroken_line")
_UNBROKEN_PIECE = 64 * 1024  # bytes per chunked-encoding piece of an unbroken line

_MAX_RECORDED_REQUESTS = 5000
_FIXED_CREATED = 1715367049  # "created" of fake OpenAI models
_MODIFIED_AT = "2025-03-14T09:26:53.589793238Z"


class _ClientGone(Exception):
    """The client closed the connection before the response was complete."""


class _ServerStopping(Exception):
    """stop() was called while a response was in progress."""


def mask_api_key(key: str) -> str:
    """Mask a key the way OpenAI does in its 401 message: 'sk-abc1****...****wxyz'.

    Never returns the whole key: at most a quarter of it (8 chars) at the start and
    an eighth (4 chars) at the end stay visible, the length is kept.
    """
    key = key or ""
    n = len(key)
    if n == 0:
        return ""
    head = min(8, n // 4)
    tail = min(4, n // 8)
    return key[:head] + "*" * (n - head - tail) + (key[n - tail:] if tail else "")


def _check_loopback(host: str) -> str:
    """Return the address to bind to; ValueError unless it is a loopback address."""
    if not isinstance(host, str) or not host:
        raise ValueError("host must be a loopback address such as 127.0.0.1")
    h = host.strip("[]")
    if h.lower() == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        raise ValueError(
            f"refusing to bind fake LLM server to {host!r}: only loopback IP addresses "
            "(127.0.0.0/8, ::1) or 'localhost' are allowed"
        ) from None
    if not ip.is_loopback:
        raise ValueError(
            f"refusing to bind fake LLM server to {host!r}: not a loopback address"
        )
    return h


def _now_rfc3339() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def _split_words(text: str) -> List[str]:
    """Split into word-ish pieces whose concatenation is exactly ``text``."""
    if not text:
        return []
    pieces = re.findall(r"\s*\S+", text)
    rest = text[sum(len(p) for p in pieces):]
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces = [rest]
    return pieces


def _count_prompt_tokens(messages: Any) -> int:
    total = 0
    if isinstance(messages, list):
        for m in messages:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str):
                total += len(content.split())
            elif isinstance(content, list):  # OpenAI content parts
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        total += len(part["text"].split())
            total += 4  # role/template overhead, roughly what real servers report
    return max(total, 1)


def _broken_off(malformed: bytes, text: Optional[str]) -> bytes:
    """The kind's malformed line, or with `text` the start of a chunk whose content is that text,
    broken off before its string ends (a line damaged on the way that carries the model's words)."""
    if text is None:
        return malformed
    start = malformed[:malformed.rfind(b":") + 1]
    return start + b" " + json.dumps(text).encode()[:-1] + (b"\n\n" if start.startswith(b"data:") else b"\n")


class _Reply:
    """The text the fake model writes for one request, as pieces (one per token)."""

    def __init__(self, text: Any, large_bytes: Optional[int], limit: Optional[int]):
        self.large_bytes = large_bytes
        if large_bytes is not None:
            self._text = None
            total = math.ceil(large_bytes / _LARGE_PIECE) if large_bytes > 0 else 0
            self._words = None
        elif isinstance(text, list):  # the pieces exactly as given, one per chunk
            self._words = list(text)
            self._text = "".join(self._words)
            total = len(self._words)
        else:
            self._text = text or ""
            self._words = _split_words(self._text)
            total = len(self._words)
        self.total_pieces = total
        if limit is not None and limit >= 0 and limit < total:
            self.count = limit
            self.finish = "length"
        else:
            self.count = total
            self.finish = "stop"

    def pieces(self) -> Iterator[str]:
        if self.large_bytes is None:
            yield from self._words[: self.count]
            return
        text = self._large_text()
        for i in range(self.count):
            yield text[i * _LARGE_PIECE:(i + 1) * _LARGE_PIECE]

    def full_text(self) -> str:
        if self.large_bytes is None:
            if self.count == self.total_pieces:
                return self._text
            return "".join(self._words[: self.count])
        return self._large_text()[: self.count * _LARGE_PIECE]

    def _large_text(self) -> str:
        n = self.large_bytes
        reps = n // len(_LARGE_FILLER) + 1
        return (_LARGE_FILLER * reps)[:n]


# --------------------------------------------------------------------------------------
# Model metadata
# --------------------------------------------------------------------------------------

def _ollama_details(name: str) -> Dict[str, Any]:
    base, _, tag = name.partition(":")
    family_match = re.match(r"[a-z]+", base.split("/")[-1].lower())
    family = family_match.group(0) if family_match else "llama"
    if family == "qwen":
        family = "qwen2"
    size_match = re.search(r"(\d+(?:\.\d+)?)\s*([bm])", tag.lower()) or re.search(
        r"(\d+(?:\.\d+)?)([bm])\b", base.lower()
    )
    if size_match:
        num = float(size_match.group(1))
        billions = num if size_match.group(2) == "b" else num / 1000
    else:
        billions = 7.0
    param = f"{billions:g}B" if billions >= 1 else f"{int(billions * 1000)}M"
    size = int(billions * 0.62e9) + 12_345_678
    return {
        "name": name,
        "model": name,
        "modified_at": _MODIFIED_AT,
        "size": size,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": param,
            "quantization_level": "Q4_K_M",
        },
    }


def _ollama_norm(name: str) -> str:
    name = (name or "").strip()
    if name and ":" not in name.split("/")[-1]:
        name += ":latest"
    return name


def _lmstudio_info(model_id: str, state: str) -> Dict[str, Any]:
    low = model_id.lower()
    if "embed" in low:
        mtype, arch, ctx = "embeddings", "nomic-bert", 2048
    elif "vl" in low.split("-"):
        mtype, arch, ctx = "vlm", "qwen2_vl", 32768
    else:
        mtype = "llm"
        if "qwen" in low:
            arch, ctx = "qwen2", 32768
        elif "mistral" in low:
            arch, ctx = "mistral", 32768
        elif "gemma" in low:
            arch, ctx = "gemma3", 131072
        else:
            arch, ctx = "llama", 131072
    publisher = model_id.split("/")[0] if "/" in model_id else "lmstudio-community"
    return {
        "id": model_id,
        "object": "model",
        "type": mtype,
        "publisher": publisher,
        "arch": arch,
        "compatibility_type": "gguf",
        "quantization": "Q4_K_M",
        "state": state,
        "max_context_length": ctx,
    }


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------

class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):  # noqa: D401 - stdlib hook
        # Connection-level errors are normal for a fault-injecting fake; stay quiet.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, _ClientGone, _ServerStopping, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


def _with_tls(server_class: type, context: ssl.SSLContext) -> type:
    """The server class whose accepted connections speak TLS (the handshake runs in the
    connection's own thread, at its first read)."""

    class _TLSServer(server_class):
        def get_request(self):
            sock, address = super().get_request()
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    return _TLSServer


class FakeLLMServer:
    """A fake Ollama / LM Studio / OpenAI server on a loopback address.

    >>> with FakeLLMServer("ollama").start() as srv:
    ...     srv.url  # 'http://127.0.0.1:PORT'
    """

    def __init__(
        self,
        kind: str,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Optional[List[str]] = None,
        api_key: Optional[str] = None,
        reply: Any = DEFAULT_REPLY,  # or a function of the request's messages giving the text
        chunk_delay: float = 0.0,
        verbose: bool = False,
        reasoning: Optional[str] = None,
        reasoning_inline: bool = False,
        context_length: Optional[int] = None,
        tls: Optional[ssl.SSLContext] = None,  # a server-side context: the fake serves https
        server: Optional[str] = None,  # openai_compatible: "llama.cpp" (default), "vllm", "koboldcpp"
        version: Optional[str] = None,  # ollama: what /api/version says (logprobs from 0.12.11 on)
        fill_in_middle: bool = False,  # the model has FIM tokens (llama.cpp /infill) or `insert` (Ollama)
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if server is not None and (kind != "openai_compatible" or server not in OPENAI_COMPATIBLE_SERVERS):
            raise ValueError(f"server applies to openai_compatible only, one of {tuple(OPENAI_COMPATIBLE_SERVERS)}")
        self.kind = kind
        self.server = server or ("llama.cpp" if kind == "openai_compatible" else None)
        self._bind_host = _check_loopback(host)
        self._requested_port = int(port)
        self.models: List[str] = list(models) if models else list(
            SERVER_MODELS.get(self.server) or DEFAULT_MODELS[kind])
        if not self.models:
            raise ValueError("models must not be empty")
        self.api_key = api_key or None
        self.reply = reply
        self.chunk_delay = float(chunk_delay)
        self.verbose = verbose
        # What a reasoning model thinks before it answers: sent apart (LM Studio and llama.cpp
        # `reasoning_content`, Ollama `message.thinking` when asked with `think`), or inline as
        # <think>...</think> at the start of the content (llama-server --reasoning-format none,
        # Ollama without `think`).
        self.reasoning = reasoning
        self.reasoning_inline = bool(reasoning_inline)
        # The loaded context in tokens (prompt words + 4 per message); a longer prompt gets the
        # backend's own context-overflow error. Ollama truncates silently, as the real one does.
        self.context_length = context_length if context_length is not None else DEFAULT_CONTEXT.get(kind)
        self.tls = tls
        if version is not None and kind != "ollama":
            raise ValueError("version applies to the ollama kind only")
        self.version = version or OLLAMA_VERSION
        self.ollama_logprobs = kind == "ollama" and logprobs.ollama_version_gives(self.version)
        self.fill_in_middle = bool(fill_in_middle)

        self._lock = threading.Lock()
        self._faults: Dict[str, Dict[str, Any]] = {}
        self._requests: List[Dict[str, Any]] = []
        self._stats = self._fresh_stats()
        self._loaded: List[str] = [self.models[0]]  # ollama /api/ps, lmstudio state
        self._conns: set = set()
        self._stopping = threading.Event()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # ----- lifecycle -----------------------------------------------------------------

    def start(self) -> "FakeLLMServer":
        if self._httpd is not None:
            return self
        kind_handler = OPENAI_COMPATIBLE_SERVERS[self.server] if self.server else HANDLERS[self.kind]
        handler = type("FakeLLMHandler", (kind_handler,), {"fake": self})
        cls = _HTTPServer6 if ":" in self._bind_host else _HTTPServer
        if self.tls is not None:
            cls = _with_tls(cls, self.tls)
        self._stopping.clear()
        self._httpd = cls((self._bind_host, self._requested_port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self.kind}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for sock in conns:  # wake handlers blocked on idle keep-alive or in a stall
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._httpd else "not started"
        return f"<FakeLLMServer {self.kind} {where}>"

    # ----- addresses -----------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._bind_host

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self._requested_port
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Scheme, host and port, without any /v1."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL a user types in the settings: ollama/lmstudio root, chatgpt and
        openai_compatible .../v1."""
        return self.base_url + ("/v1" if self.kind in ("chatgpt", "openai_compatible") else "")

    # ----- faults --------------------------------------------------------------------

    def set_fault(self, name: str, **params: Any) -> None:
        """Switch on a fault (replacing one of the same name). See README for the list.

        Every fault also takes ``times=N``: it then applies to the next N requests
        (streams, for the stream faults) only, and switches itself off.
        """
        fault = self._validate_fault(name, params)
        with self._lock:
            self._faults[name] = fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> Dict[str, Dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._faults)

    def reset(self) -> None:
        """Clear faults, recorded requests and stats."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._stats = self._fresh_stats()
            self._loaded = [self.models[0]]

    def _validate_fault(self, name: str, params: Dict[str, Any]) -> Dict[str, Any]:
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        p = dict(params)
        times = p.pop("times", None)
        if times is not None:
            times = int(times)
            if times < 1:
                raise ValueError("times must be >= 1")

        def num(key, default=None, required=True, minimum=0.0, integer=False):
            if key not in p or p[key] is None:
                if required and default is None:
                    raise ValueError(f"fault {name} needs {key}")
                return default
            val = p.pop(key)
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise ValueError(f"fault {name}: {key} must be a number")
            if integer:
                if int(val) != val:
                    raise ValueError(f"fault {name}: {key} must be an integer")
                val = int(val)
            if val < minimum:
                raise ValueError(f"fault {name}: {key} must be >= {minimum}")
            return val

        out: Dict[str, Any] = {}
        if name == "delay_headers":
            out["seconds"] = float(num("seconds"))
        elif name == "stall_after_chunks":
            out["chunks"] = num("chunks", integer=True)
            out["seconds"] = float(num("seconds"))
        elif name == "status":
            code = num("code", integer=True, minimum=100)
            if code > 599:
                raise ValueError("fault status: code must be 100..599")
            out["code"] = code
            ra = num("retry_after", required=False)
            out["retry_after"] = ra
            msg = p.pop("message", None)
            if msg is not None and not isinstance(msg, str):
                raise ValueError("fault status: message must be a string")
            out["message"] = msg
            ec = p.pop("error_code", None)
            if ec is not None and not isinstance(ec, str):
                raise ValueError("fault status: error_code must be a string")
            out["error_code"] = ec
        elif name in ("die_after_chunks", "malformed_after_chunks"):
            out["chunks"] = num("chunks", integer=True)
            if name == "malformed_after_chunks":
                text = p.pop("text", None)
                if text is not None and not isinstance(text, str):
                    raise ValueError("fault malformed_after_chunks: text must be a string")
                out["text"] = text
        elif name == "large_reply":
            out["bytes"] = num("bytes", integer=True)
        elif name == "unbroken_line":
            out["chunks"] = num("chunks", integer=True)
            out["bytes"] = num("bytes", integer=True, minimum=1)
        elif name == "no_model_loaded":
            if self.kind == "chatgpt":
                raise ValueError("no_model_loaded applies to ollama, lmstudio and openai_compatible only")
        elif name == "model_loading":
            if self.kind == "chatgpt":
                raise ValueError("model_loading applies to ollama, lmstudio and openai_compatible only")
            out["seconds"] = float(num("seconds", default=2.0, required=False))
        if p:
            raise ValueError(f"fault {name}: unknown parameter(s) {sorted(p)}")
        out["times"] = times
        return out

    def _take_fault(self, name: str) -> Optional[Dict[str, Any]]:
        """Return the fault's params if active, consuming one use if it has ``times``."""
        with self._lock:
            f = self._faults.get(name)
            if f is None:
                return None
            if f.get("times") is not None:
                f["times"] -= 1
                if f["times"] <= 0:
                    del self._faults[name]
            return dict(f)

    def _peek_fault(self, name: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            f = self._faults.get(name)
            return dict(f) if f is not None else None

    # ----- recording -----------------------------------------------------------------

    @staticmethod
    def _fresh_stats() -> Dict[str, Any]:
        return {
            "requests": 0,
            "streams_started": 0,
            "streams_completed": 0,
            "streams_aborted": 0,
            "active_streams": 0,
            "client_disconnects": 0,
            "disconnect_times": [],
            "chunk_times": [],
        }

    @property
    def requests(self) -> List[Dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._requests)

    @property
    def stats(self) -> Dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._stats)

    def _record(self, entry: Dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)
            if len(self._requests) > _MAX_RECORDED_REQUESTS:
                del self._requests[: len(self._requests) - _MAX_RECORDED_REQUESTS]
            self._stats["requests"] += 1

    def _bump(self, key: str, delta: int = 1) -> None:
        with self._lock:
            self._stats[key] += delta

    def _note_disconnect(self) -> None:
        with self._lock:
            self._stats["client_disconnects"] += 1
            self._stats["disconnect_times"].append(time.monotonic())

    # ----- model state ---------------------------------------------------------------

    def _find_model(self, requested: Any) -> Optional[str]:
        if not isinstance(requested, str) or not requested:
            return None
        if self.kind == "ollama":
            want = _ollama_norm(requested)
            for m in self.models:
                if _ollama_norm(m) == want:
                    return m
            return None
        return requested if requested in self.models else None

    def _mark_loaded(self, model: str) -> None:
        with self._lock:
            if model not in self._loaded:
                self._loaded.append(model)

    def _loaded_models(self) -> List[str]:
        if self._peek_fault("no_model_loaded") or self._peek_fault("model_loading"):
            return []
        with self._lock:
            return [m for m in self.models if m in self._loaded]


# --------------------------------------------------------------------------------------
# Request handler
# --------------------------------------------------------------------------------------

class _Handler(CompletionRoutes, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeLLMServer  # set on the per-server subclass
    chat_logprobs_style: Optional[str] = None  # whose chat log-probabilities it sends (logprobs.py)

    # ----- plumbing ------------------------------------------------------------------

    def version_string(self):  # the Server: header
        return f"fake-{self.fake.kind}"

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        with self.fake._lock:
            self.fake._conns.discard(self.connection)

    def log_message(self, fmt, *args):
        if self.fake.verbose:
            super().log_message(fmt, *args)

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_OPTIONS(self):
        self._dispatch()

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                out += self.rfile.read(size)
                self.rfile.readline(3)
            return bytes(out)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_bytes(self, code: int, body: bytes, content_type: str,
                    headers: Optional[Dict[str, str]] = None) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
            if not self.fake._stopping.is_set():
                self.fake._note_disconnect()

    def _send_json(self, code: int, obj: Any, headers: Optional[Dict[str, str]] = None) -> None:
        ctype = "application/json; charset=utf-8"
        hdrs = {**self.json_headers(), **(headers or {})}
        self._send_bytes(code, json.dumps(obj).encode("utf-8"), ctype, hdrs)

    def _pause(self, seconds: float) -> None:
        """Sleep, but notice a client that hangs up (raise _ClientGone) or stop()."""
        if seconds <= 0:
            return
        deadline = time.monotonic() + seconds
        sock = self.connection
        while True:
            if self.fake._stopping.is_set():
                raise _ServerStopping()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                readable, _, _ = select.select([sock], [], [], min(remaining, 0.25))
            except (OSError, ValueError):
                raise _ClientGone() from None
            if not readable:
                continue
            if self.fake._stopping.is_set():
                raise _ServerStopping()
            try:
                data = sock.recv(1, socket.MSG_PEEK)
            except OSError:
                raise _ClientGone() from None
            if not data:
                raise _ClientGone()
            # The client sent something (pipelining); just wait out the rest.
            self.fake._stopping.wait(max(0.0, deadline - time.monotonic()))

    # ----- dispatch ------------------------------------------------------------------

    def _dispatch(self) -> None:
        fake = self.fake
        try:
            raw = self._read_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        path = urlsplit(self.path).path or "/"
        self.req_path = path
        self.req_json: Any = None
        self.req_json_error = False
        if raw:
            try:
                self.req_json = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.req_json_error = True

        if path.startswith("/_fake/"):
            self._control(path)
            return

        fake._record({
            "method": self.command,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "json": self.req_json,
            "time": time.monotonic(),
        })

        route = self.routes(self.command, path)
        try:
            if route is None:
                self._not_found(path)
                return
            handler, is_api = route
            if is_api:
                delay = fake._take_fault("delay_headers")
                if delay:
                    self._pause(delay["seconds"])
                status = fake._take_fault("status")
                if status:
                    self._send_status_fault(status)
                    return
                if not self.check_auth():
                    return
            handler()
        except _ClientGone:
            self.close_connection = True
            if not fake._stopping.is_set():
                fake._note_disconnect()
        except _ServerStopping:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
            if not fake._stopping.is_set():
                fake._note_disconnect()

    # ----- control API (/_fake/*) ----------------------------------------------------

    def _control(self, path: str) -> None:
        fake = self.fake
        m = self.command
        if path == "/_fake/fault" and m == "POST":
            body = self.req_json if isinstance(self.req_json, dict) else None
            if body is None or not isinstance(body.get("name"), str):
                self._send_json(400, {"error": 'body must be {"name": ..., ...params}'})
                return
            params = {k: v for k, v in body.items() if k != "name"}
            try:
                fake.set_fault(body["name"], **params)
            except (ValueError, TypeError) as e:
                self._send_json(400, {"error": str(e)})
                return
            self._send_json(200, {"ok": True, "faults": fake.faults})
        elif path == "/_fake/clear" and m == "POST":
            fake.clear_faults()
            self._send_json(200, {"ok": True, "faults": {}})
        elif path == "/_fake/reset" and m == "POST":
            fake.reset()
            self._send_json(200, {"ok": True})
        elif path == "/_fake/faults" and m == "GET":
            self._send_json(200, {"faults": fake.faults})
        elif path == "/_fake/requests" and m == "GET":
            self._send_json(200, {"requests": fake.requests})
        elif path == "/_fake/stats" and m == "GET":
            self._send_json(200, fake.stats)
        else:
            self._send_json(404, {"error": f"no such control endpoint: {m} {path}"})

    # ----- native errors -------------------------------------------------------------

    def _oai_error(self, code: int, message: str, etype: Optional[str],
                   param: Optional[str], ecode: Optional[str],
                   headers: Optional[Dict[str, str]] = None) -> None:
        self._send_json(code, {"error": {"message": message, "type": etype,
                                         "param": param, "code": ecode}}, headers)

    def _requested_model(self) -> str:
        if isinstance(self.req_json, dict) and isinstance(self.req_json.get("model"), str):
            return self.req_json["model"]
        return self.fake.models[0]

    def _lms_no_model_loaded(self) -> None:
        self._send_json(400, {"error": {"message": "No models loaded. Please load a model in the "
                                                   "developer page or use the 'lms load' command."}})

    def _send_status_fault(self, f: Dict[str, Any]) -> None:
        code = f["code"]
        msg = f.get("message")
        headers: Dict[str, str] = {}
        retry_after = f.get("retry_after")
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}" if isinstance(retry_after, float) else str(retry_after)
        model = self._requested_model()
        phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
        self._status_fault(code, msg, headers, f, model, phrase, retry_after)

    # ----- what differs by kind (each kind's handler below overrides these) -----------------

    def routes(self, method: str, path: str):
        """(callable, is_api) for a request, or None. is_api routes get the header-delay and
        status faults and the key check."""
        raise NotImplementedError

    def check_auth(self) -> bool:
        """True when the request may go on (else the kind's 401 has been sent)."""
        return True

    def json_headers(self) -> Dict[str, str]:
        return {}

    def _not_found(self, path: str) -> None:
        raise NotImplementedError

    def _model_not_found(self, model: str) -> None:
        raise NotImplementedError

    def _status_fault(self, code: int, msg: Optional[str], headers: Dict[str, str], f: Dict[str, Any],
                      model: str, phrase: str, retry_after: Any) -> None:
        raise NotImplementedError

    # ----- OpenAI auth ---------------------------------------------------------------

    def _bearer_token(self) -> Optional[str]:
        auth = self.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        return None

    def _check_openai_auth(self) -> bool:
        want = self.fake.api_key
        if not want:
            return True
        got = self._bearer_token()
        if not got:
            self._oai_error(401, (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                "or as the password field (with blank username) if you're accessing the API "
                "from your browser and are prompted for a username and password. You can "
                "obtain an API key from https://platform.openai.com/account/api-keys."),
                "invalid_request_error", None, None)
            return False
        if got != want:
            self._oai_error(401, (
                f"Incorrect API key provided: {mask_api_key(got)}. You can find your API key "
                "at https://platform.openai.com/account/api-keys."),
                "invalid_request_error", None, "invalid_api_key")
            return False
        return True

    # ----- model listings ------------------------------------------------------------

    def _ollama_tags(self) -> None:
        self._send_json(200, {"models": [_ollama_details(m) for m in self.fake.models]})

    def _ollama_ps(self) -> None:
        expires = (datetime.now(timezone.utc) + timedelta(minutes=5)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")
        out = []
        for m in self.fake._loaded_models():
            d = _ollama_details(m)
            del d["modified_at"]
            d["expires_at"] = expires
            d["size_vram"] = d["size"]
            out.append(d)
        self._send_json(200, {"models": out})

    def _ollama_show(self) -> None:
        """POST /api/show: the model's Modelfile parameters (num_ctx when the fake has a
        context length) and model_info with the architecture's trained context_length."""
        body = self.req_json if isinstance(self.req_json, dict) else {}
        requested = body.get("model") or body.get("name") or ""
        model = self.fake._find_model(requested)
        if model is None:
            self._model_not_found(requested)
            return
        details = _ollama_details(model)["details"]
        family = details["family"]
        parameters = 'stop                           "<|eot_id|>"'
        if self.fake.context_length is not None:
            parameters = f"num_ctx                        {self.fake.context_length}\n" + parameters
        self._send_json(200, {
            "modelfile": f"FROM {model}\n",
            "parameters": parameters,
            "template": "{{ .Prompt }}",
            "details": details,
            "model_info": {"general.architecture": family, f"{family}.context_length": 131072,
                           "general.parameter_count": 8030261248},
            "capabilities": ["completion", "insert"] if self.fake.fill_in_middle else ["completion"],
            "modified_at": _MODIFIED_AT,
        })

    def _lms_state(self, model: str) -> str:
        return "loaded" if model in self.fake._loaded_models() else "not-loaded"

    def _lms_v1_models(self) -> None:
        self._send_json(200, {"object": "list", "data": [
            {"id": m, "object": "model", "owned_by": "organization_owner"}
            for m in self.fake.models]})

    def _lms_info(self, model: str) -> Dict[str, Any]:
        """LM Studio's model entry; a loaded model also says the context it was loaded with."""
        info = _lmstudio_info(model, self._lms_state(model))
        if info["state"] == "loaded":
            info["loaded_context_length"] = self.fake.context_length or LMSTUDIO_LOADED_CONTEXT
        return info

    def _lms_v0_models(self) -> None:
        self._send_json(200, {"object": "list", "data": [self._lms_info(m) for m in self.fake.models]})

    def _lms_v0_model(self, mid: str) -> None:
        if mid not in self.fake.models:
            self._oai_error(404, f"Model {json.dumps(mid)} not found", "invalid_request_error",
                            "model", "model_not_found")
            return
        self._send_json(200, self._lms_info(mid))

    def _openai_model_obj(self, m: str) -> Dict[str, Any]:
        idx = self.fake.models.index(m)
        return {"id": m, "object": "model", "created": _FIXED_CREATED + idx * 86400,
                "owned_by": "system"}

    def _openai_models(self) -> None:
        self._send_json(200, {"object": "list",
                              "data": [self._openai_model_obj(m) for m in self.fake.models]})

    def _openai_model(self, mid: str) -> None:
        if mid not in self.fake.models:
            self._oai_error(404, f"The model '{mid}' does not exist", "invalid_request_error",
                            "model", "model_not_found")
            return
        self._send_json(200, self._openai_model_obj(mid))

    # ----- chat: shared ----------------------------------------------------------------

    def _make_reply(self, limit: Optional[int], messages: Any = None) -> _Reply:
        large = self.fake._take_fault("large_reply")
        text = self.fake.reply(messages) if callable(self.fake.reply) else self.fake.reply
        return _Reply(text, large["bytes"] if large else None, limit)

    def _start_stream(self, content_type: str, extra: Optional[Dict[str, str]] = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            raise _ClientGone() from None

    def _abort_connection(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _run_stream(self, content_type: str, events: Iterator[bytes], malformed: bytes,
                    extra_headers: Optional[Dict[str, str]] = None) -> None:
        """Send ``events`` as one chunked stream, applying the stream faults.

        A "chunk" (for the *_after_chunks faults) is one event: one NDJSON line or one
        SSE ``data:`` event, counting every one the stream sends (role chunk, content,
        final/usage chunk, [DONE]). Position len(events) is the chunked terminator.
        """
        fake = self.fake
        stall = fake._take_fault("stall_after_chunks")
        die = fake._take_fault("die_after_chunks")
        bad = fake._take_fault("malformed_after_chunks")
        unbroken = fake._take_fault("unbroken_line")
        delay = fake.chunk_delay

        # Stats are updated *before* the bytes they describe are sent, so a client
        # that has seen a chunk (or the end) always finds them up to date.
        times: List[float] = []
        with fake._lock:
            fake._stats["streams_started"] += 1
            fake._stats["active_streams"] += 1
            fake._stats["chunk_times"] = times  # "the last stream"
        active = True

        def finish(key: str) -> None:
            nonlocal active
            with fake._lock:
                if key:
                    fake._stats[key] += 1
                if active:
                    fake._stats["active_streams"] -= 1
                    active = False

        try:
            self._start_stream(content_type, extra_headers)
            n = 0
            events = iter(events)
            while True:
                ev = next(events, None)
                if die is not None and n == die["chunks"]:
                    finish("streams_aborted")
                    self._abort_connection()
                    return
                if unbroken is not None and n == unbroken["chunks"]:
                    self._write_unbroken_line(_broken_off(malformed, "").rstrip(b"\n"), unbroken["bytes"])
                    finish("streams_aborted")
                    self._abort_connection()
                    return
                if stall is not None and n == stall["chunks"]:
                    self._pause(stall["seconds"])
                if bad is not None and n == bad["chunks"]:
                    self._write_chunk(_broken_off(malformed, bad["text"]))
                    bad = None
                if ev is None:
                    break
                if n > 0 and delay > 0:
                    self._pause(delay)
                with fake._lock:
                    times.append(time.monotonic())
                self._write_chunk(ev)
                n += 1
            finish("streams_completed")
            try:
                self._write_chunk(b"")  # 0\r\n\r\n terminator
            except _ClientGone:
                fake._bump("streams_completed", -1)
                raise
        finally:
            finish("")

    def _write_unbroken_line(self, start: bytes, size: int) -> None:
        """unbroken_line: `size` bytes of a line that never ends (the start of a chunk, then a
        string that goes on), in 64 KiB pieces; the client may hang up before the last."""
        self._write_chunk(start)
        sent = len(start)
        piece = b"x" * _UNBROKEN_PIECE
        while sent < size:
            part = piece[:size - sent]
            self._write_chunk(part)
            sent += len(part)

    def _wait_for_model_load(self, model: str) -> float:
        """model_loading fault: a cold load delays the answer. Returns seconds waited."""
        f = self.fake._take_fault("model_loading")
        if not f:
            return 0.0
        self._pause(f["seconds"])
        return f["seconds"]

    # ----- chat: Ollama --------------------------------------------------------------

    def _ollama_chat(self) -> None:
        fake = self.fake
        t0 = time.monotonic_ns()
        if self.req_json_error or not isinstance(self.req_json, dict):
            self._send_json(400, {"error": "invalid character looking for beginning of value"
                                  if self.req_json_error else "missing request body"})
            return
        body = self.req_json
        if not body.get("model"):
            self._send_json(400, {"error": "model is required"})
            return
        requested = body["model"]
        model = fake._find_model(requested)
        if model is None:
            self._model_not_found(requested)
            return
        self._wait_for_model_load(model)
        fake._mark_loaded(model)
        t_loaded = time.monotonic_ns()
        messages = body.get("messages") or []
        if not messages:  # documented "load a model" call
            self._send_json(200, {"model": requested, "created_at": _now_rfc3339(),
                                  "message": {"role": "assistant", "content": ""},
                                  "done_reason": "load", "done": True})
            return
        opts = body.get("options") if isinstance(body.get("options"), dict) else {}
        limit = opts.get("num_predict")
        limit = int(limit) if isinstance(limit, (int, float)) and not isinstance(limit, bool) else None
        if limit is not None and limit < 0:
            limit = None
        top = body.get("top_logprobs")
        if fake.ollama_logprobs and top is not None and not (isinstance(top, int) and 0 <= top <= 20):
            self._send_json(400, {"error": "top_logprobs must be between 0 and 20"})
            return
        with_logprobs = fake.ollama_logprobs and bool(body.get("logprobs"))
        reply = self._make_reply(limit, messages)
        prompt_tokens = _count_prompt_tokens(messages)
        stream = body.get("stream", True) is not False

        def final(content: str, t_first: int) -> Dict[str, Any]:
            now = time.monotonic_ns()
            prompt_ns = max(t_first - t_loaded, 1_000_000)
            return {
                "model": requested,
                "created_at": _now_rfc3339(),
                "message": {"role": "assistant", "content": content},
                "done_reason": reply.finish,
                "done": True,
                "total_duration": max(now - t0, 1),
                "load_duration": max(t_loaded - t0, 1_234_567),
                "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": prompt_ns,
                "eval_count": reply.count,
                "eval_duration": max(now - t_first, 1_000_000),
            }

        # Asked to `think`, Ollama sends the thinking apart (message.thinking); otherwise a
        # thinking model writes it inline at the start of the content.
        thinks_apart = bool(body.get("think"))
        thoughts = _split_words(fake.reasoning or "")
        if not stream:
            if fake.chunk_delay > 0 and reply.count:
                self._pause(fake.chunk_delay * reply.count)
            answer = final(reply.full_text(), t_loaded)
            if with_logprobs:
                answer["logprobs"] = [logprobs.ollama(piece, top or 0) for piece in reply.pieces()]
            if fake.reasoning and thinks_apart:
                answer["message"]["thinking"] = fake.reasoning
            elif fake.reasoning:
                answer["message"]["content"] = f"<think>{fake.reasoning}</think>" + answer["message"]["content"]
            self._send_json(200, answer)
            return

        def events() -> Iterator[bytes]:
            t_first = time.monotonic_ns()
            seq = 0
            if thoughts:
                for piece in thoughts if thinks_apart else ["<think>", *thoughts, "</think>"]:
                    message = {"role": "assistant", "content": ""}
                    message["thinking" if thinks_apart else "content"] = piece
                    obj = {"model": requested, "created_at": _now_rfc3339(), "message": message,
                           "done": False, "x_fake_seq": seq}
                    yield json.dumps(obj).encode("utf-8") + b"\n"
                    seq += 1
            for piece in reply.pieces():
                if seq == 0:
                    t_first = time.monotonic_ns()
                obj = {"model": requested, "created_at": _now_rfc3339(),
                       "message": {"role": "assistant", "content": piece},
                       "done": False, "x_fake_seq": seq}
                if with_logprobs:
                    obj["logprobs"] = [logprobs.ollama(piece, top or 0)]
                yield json.dumps(obj).encode("utf-8") + b"\n"
                seq += 1
            last = final("", t_first)
            last["x_fake_seq"] = seq
            yield json.dumps(last).encode("utf-8") + b"\n"

        malformed = (b'{"model": ' + json.dumps(requested).encode() +
                     b', "created_at": "' + _now_rfc3339().encode() +
                     b'", "message": {"role": "assistant", "content": "\n')
        self._run_stream("application/x-ndjson", events(), malformed)

    # ----- chat: OpenAI / LM Studio ----------------------------------------------------

    def _oai_chat(self) -> None:
        fake = self.fake
        kind = fake.kind
        v0 = self.req_path.startswith("/api/v0/")
        if self.req_json_error or not isinstance(self.req_json, dict):
            self._oai_error(400, (
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                "but what was sent was not valid JSON.)"), "invalid_request_error", None, None)
            return
        body = self.req_json
        requested = body.get("model")
        if kind == "lmstudio" and fake._peek_fault("no_model_loaded"):
            self._lms_no_model_loaded()
            return
        if not isinstance(requested, str) or not requested:
            if kind == "lmstudio":  # LM Studio answers with the first loaded model
                loaded = fake._loaded_models()
                requested = loaded[0] if loaded else fake.models[0]
            else:
                self._oai_error(400, "you must provide a model parameter",
                                "invalid_request_error", None, None)
                return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._oai_error(400, "Missing required parameter: 'messages'.",
                            "invalid_request_error", "messages", "missing_required_parameter")
            return
        model = fake._find_model(requested)
        if model is None:
            self._model_not_found(requested)
            return
        if kind == "chatgpt" and model.startswith(("text-embedding", "whisper", "tts", "dall-e")):
            self._oai_error(404, "This is not a chat model and thus not supported in the "
                                 "v1/chat/completions endpoint. Did you mean to use v1/completions?",
                            "invalid_request_error", "model", None)
            return
        if kind == "lmstudio":
            self._wait_for_model_load(model)
            fake._mark_loaded(model)
        prompt_words = _count_prompt_tokens(messages)
        if fake.context_length and prompt_words > fake.context_length:
            if kind == "lmstudio":
                self._send_json(400, {"error": (
                    f"Trying to keep the first {prompt_words} tokens when context the overflows. "
                    f"However, the model is loaded with context length of only {fake.context_length} "
                    "tokens, which is not enough. Try to load the model with a larger context length, "
                    "or provide a shorter input")})
            else:
                self._oai_error(400, (
                    f"This model's maximum context length is {fake.context_length} tokens. However, "
                    f"your messages resulted in {prompt_words} tokens. Please reduce the length of the "
                    "messages."), "invalid_request_error", "messages", "context_length_exceeded")
            return

        logprobs_error, top = logprobs.chat_request(self.chat_logprobs_style, body)
        if logprobs_error:
            self._oai_error(400, logprobs_error, "invalid_request_error", "top_logprobs", None)
            return
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        limit = int(limit) if isinstance(limit, (int, float)) and not isinstance(limit, bool) else None
        if limit is not None and limit < 0:  # LM Studio: -1 = no limit
            limit = None
        reply = self._make_reply(limit, messages)
        prompt_tokens = _count_prompt_tokens(messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": reply.count,
                 "total_tokens": prompt_tokens + reply.count}
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        fingerprint = model if kind == "lmstudio" else "fp_fake0001"
        t_start = time.monotonic()

        if not body.get("stream"):
            if fake.chunk_delay > 0 and reply.count:
                self._pause(fake.chunk_delay * reply.count)
            message: Dict[str, Any] = {"role": "assistant", "content": reply.full_text()}
            if kind == "chatgpt":
                message["refusal"] = None
            elif fake.reasoning and fake.reasoning_inline:
                message["content"] = f"<think>{fake.reasoning}</think>" + message["content"]
            elif fake.reasoning:
                message["reasoning_content"] = fake.reasoning
            resp: Dict[str, Any] = {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish,
                             "logprobs": logprobs.chat_logprobs(self.chat_logprobs_style,
                                                                list(reply.pieces()), top)}],
                "usage": usage,
                "system_fingerprint": fingerprint,
            }
            if kind == "lmstudio":
                elapsed = max(time.monotonic() - t_start, 0.001)
                resp["stats"] = {} if not v0 else {
                    "tokens_per_second": reply.count / elapsed,
                    "time_to_first_token": 0.05,
                    "generation_time": elapsed,
                    "stop_reason": "eosFound" if reply.finish == "stop" else "maxPredictedTokensReached",
                }
                if v0:
                    info = _lmstudio_info(model, "loaded")
                    resp["model_info"] = {"arch": info["arch"], "quant": info["quantization"],
                                          "format": "gguf", "context_length": info["max_context_length"]}
                    resp["runtime"] = {"name": "llama.cpp-linux-x86_64-avx2", "version": "1.3.0",
                                       "supported_formats": ["gguf"]}
            self._send_json(200, resp)
            return

        so = body.get("stream_options")
        include_usage = isinstance(so, dict) and bool(so.get("include_usage"))

        def chunk(seq: int, delta: Dict[str, Any], finish: Optional[str], pieces: Optional[List[str]] = None) -> bytes:
            shaped = logprobs.chat_logprobs(self.chat_logprobs_style, pieces, top) if pieces else None
            obj: Dict[str, Any] = {
                "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": fingerprint,
                "choices": [{"index": 0, "delta": delta, "logprobs": shaped, "finish_reason": finish}],
            }
            if include_usage:
                obj["usage"] = None
            obj["x_fake_seq"] = seq
            return b"data: " + json.dumps(obj).encode("utf-8") + b"\n\n"

        def events() -> Iterator[bytes]:
            seq = 0
            first: Dict[str, Any] = {"role": "assistant", "content": ""}
            if kind == "chatgpt":
                first["refusal"] = None
            yield chunk(seq, first, None)
            seq += 1
            if fake.reasoning and kind == "lmstudio":
                thoughts = _split_words(fake.reasoning)
                if fake.reasoning_inline:
                    thoughts = ["<think>", *thoughts, "</think>"]
                for piece in thoughts:
                    yield chunk(seq, {"content": piece} if fake.reasoning_inline
                                else {"reasoning_content": piece}, None)
                    seq += 1
            for piece in reply.pieces():
                yield chunk(seq, {"content": piece}, None, [piece])
                seq += 1
            yield chunk(seq, {}, reply.finish)
            seq += 1
            if include_usage:
                obj = {"id": cid, "object": "chat.completion.chunk", "created": created,
                       "model": model, "system_fingerprint": fingerprint, "choices": [],
                       "usage": usage, "x_fake_seq": seq}
                yield b"data: " + json.dumps(obj).encode("utf-8") + b"\n\n"
            yield b"data: [DONE]\n\n"

        malformed = (b'data: {"id": "' + cid.encode() +
                     b'", "object": "chat.completion.chunk", "choices": [{"delta": {"content": \n\n')
        extra = {"x-request-id": "req_" + uuid.uuid4().hex} if kind == "chatgpt" else None
        ctype = "text/event-stream; charset=utf-8" if kind == "chatgpt" else "text/event-stream"
        self._run_stream(ctype, events(), malformed, extra)


class _OllamaHandler(_Handler):
    """Ollama: native /api/* routes, errors as {"error": "<text>"}."""

    def routes(self, method: str, path: str):
        if path == "/" and method in ("GET", "HEAD"):
            return (lambda: self._send_bytes(200, b"Ollama is running",
                                             "text/plain; charset=utf-8"), False)
        if method in ("GET", "HEAD"):
            if path == "/api/version":
                return (lambda: self._send_json(200, {"version": self.fake.version}), True)
            if path == "/api/tags":
                return (self._ollama_tags, True)
            if path == "/api/ps":
                return (self._ollama_ps, True)
        if method == "POST" and path == "/api/chat":
            return (self._ollama_chat, True)
        if method == "POST" and path == "/api/generate":
            return (self._ollama_generate, True)
        if method == "POST" and path == "/api/show":
            return (self._ollama_show, True)
        return None

    def _not_found(self, path: str) -> None:
        self._send_bytes(404, b"404 page not found", "text/plain")

    def _model_not_found(self, model: str) -> None:
        self._send_json(404, {"error": f"model {json.dumps(model)} not found, try pulling it first"})

    def _status_fault(self, code: int, msg: Optional[str], headers: Dict[str, str], f: Dict[str, Any],
                      model: str, phrase: str, retry_after: Any) -> None:
        default = {
            401: "unauthorized",
            403: "forbidden",
            404: f"model {json.dumps(model)} not found, try pulling it first",
            429: "too many requests, please try again later",
            500: "llama runner process has terminated: exit status 2",
            503: "server busy, please try again.  maximum pending requests exceeded",
        }.get(code, phrase.lower())
        self._send_json(code, {"error": msg or default}, headers)


class _LMStudioHandler(_Handler):
    """LM Studio: OpenAI-compatible /v1 plus its REST API /api/v0."""

    def routes(self, method: str, path: str):
        if method == "GET":
            if path == "/v1/models":
                return (self._lms_v1_models, True)
            if path == "/api/v0/models":
                return (self._lms_v0_models, True)
            if path.startswith("/api/v0/models/"):
                mid = unquote(path[len("/api/v0/models/"):])
                return (lambda: self._lms_v0_model(mid), True)
        if method == "POST" and path in ("/v1/chat/completions", "/api/v0/chat/completions"):
            return (self._oai_chat, True)
        if method == "POST" and path in ("/v1/completions", "/api/v0/completions"):
            return (self._oai_completion, True)
        return None

    def _completion_model(self, body: Dict[str, Any]) -> Optional[str]:
        """LM Studio answers with its first loaded model when none is named."""
        if self.fake._peek_fault("no_model_loaded"):
            self._lms_no_model_loaded()
            return None
        if not body.get("model"):
            loaded = self.fake._loaded_models()
            return loaded[0] if loaded else self.fake.models[0]
        model = super()._completion_model(body)
        if model is not None:
            self._wait_for_model_load(model)
            self.fake._mark_loaded(model)
        return model

    def _not_found(self, path: str) -> None:
        self._send_json(404, {"error": f"Unexpected endpoint or method. ({self.command} {path})"})

    def _model_not_found(self, model: str) -> None:
        # LM Studio 0.3.x: HTTP 400, not 404, naming a few downloaded models.
        examples = ", ".join(self.fake.models[:3])
        self._oai_error(
            400,
            f"Invalid model identifier {json.dumps(model)}. Please specify a valid downloaded "
            f"model (e.g., {examples}).",
            "invalid_request_error", "model", "model_not_found")

    def _status_fault(self, code: int, msg: Optional[str], headers: Dict[str, str], f: Dict[str, Any],
                      model: str, phrase: str, retry_after: Any) -> None:
        if code == 404:
            listing = "\n".join(self.fake.models)
            self._oai_error(404, msg or (
                f"Model {json.dumps(model)} not found. Please specify a valid model.\n\n"
                f"Your models:\n\n{listing}"),
                "invalid_request_error", "model", f.get("error_code") or "model_not_found", headers)
        elif code == 500:
            # LM Studio reports a crashed model engine with a bare string.
            self._send_json(500, {"error": msg or "The model has crashed without additional "
                                                  "information. (Exit code: 11)"}, headers)
        elif code == 401:
            self._oai_error(401, msg or "Invalid or missing API token. Please provide a valid "
                                        "token in the Authorization header.",
                            "invalid_request_error", None, f.get("error_code") or "invalid_api_key", headers)
        else:
            etype = "invalid_request_error" if code < 500 else "server_error"
            self._oai_error(code, msg or phrase, etype, None, f.get("error_code"), headers)


class _ChatGPTHandler(_Handler):
    """OpenAI's API (the chatgpt backend): /v1/models[/id], /v1/chat/completions, /v1/completions
    (its instruct and base models only), a key check."""

    default_max_tokens = 16
    echoes_prompt = True
    chat_logprobs_style = "openai"

    def routes(self, method: str, path: str):
        if method == "GET":
            if path == "/v1/models":
                return (self._openai_models, True)
            if path.startswith("/v1/models/"):
                mid = unquote(path[len("/v1/models/"):])
                return (lambda: self._openai_model(mid), True)
        if method == "POST" and path == "/v1/chat/completions":
            return (self._oai_chat, True)
        if method == "POST" and path == "/v1/completions":
            return (self._oai_completion, True)
        return None

    def _completion_model(self, body: Dict[str, Any]) -> Optional[str]:
        model = super()._completion_model(body)
        if model is not None and not model.startswith(COMPLETION_MODEL_PREFIXES):
            self._oai_error(404, "This is a chat model and not supported in the v1/completions endpoint. "
                                 "Did you mean to use v1/chat/completions?", "invalid_request_error", "model", None)
            return None
        return model

    def check_auth(self) -> bool:
        return self._check_openai_auth()

    def json_headers(self) -> Dict[str, str]:
        return {"x-request-id": "req_" + uuid.uuid4().hex}

    def _not_found(self, path: str) -> None:
        self._oai_error(404, f"Invalid URL ({self.command} {path})",
                        "invalid_request_error", None, None)

    def _model_not_found(self, model: str) -> None:
        self._oai_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                        "invalid_request_error", None, "model_not_found")

    def _status_fault(self, code: int, msg: Optional[str], headers: Dict[str, str], f: Dict[str, Any],
                      model: str, phrase: str, retry_after: Any) -> None:
        if code == 401:
            key = self._bearer_token() or "sk-fake-0000000000000000000000000000"
            self._oai_error(401, msg or (
                f"Incorrect API key provided: {mask_api_key(key)}. You can find your API key "
                "at https://platform.openai.com/account/api-keys."),
                "invalid_request_error", None, f.get("error_code") or "invalid_api_key", headers)
        elif code == 404:
            self._oai_error(404, msg or f"The model `{model}` does not exist or you do not have access to it.",
                            "invalid_request_error", None, f.get("error_code") or "model_not_found", headers)
        elif code == 429 and f.get("error_code") == "insufficient_quota":
            self._oai_error(429, msg or (
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, read the docs: "
                "https://platform.openai.com/docs/guides/error-codes/api-errors."),
                "insufficient_quota", None, "insufficient_quota", headers)
        elif code == 429:
            wait = retry_after if retry_after is not None else 20
            self._oai_error(429, msg or (
                f"Rate limit reached for {model} in organization org-fake on requests per min "
                f"(RPM): Limit 3, Used 3, Requested 1. Please try again in {wait:g}s. Visit "
                "https://platform.openai.com/account/rate-limits to learn more."),
                "requests", None, f.get("error_code") or "rate_limit_exceeded", headers)
        elif code == 500:
            self._oai_error(500, msg or "The server had an error while processing your request. Sorry about that!",
                            "server_error", None, f.get("error_code"), headers)
        elif code in (502, 503):
            self._oai_error(code, msg or "The server is overloaded or not ready yet.",
                            "server_error", None, f.get("error_code"), headers)
        else:
            etype = "invalid_request_error" if code < 500 else "server_error"
            self._oai_error(code, msg or phrase, etype, None, f.get("error_code"), headers)


class _LlamaServerHandler(LlamaServerCompletions, _Handler):
    """llama.cpp's llama-server (the openai_compatible backend); its text completion and tokenizer
    are in openai_servers.py."""

    chat_timings = True
    chat_logprobs_style = "llama.cpp"

    def routes(self, method: str, path: str):
        """llama.cpp's llama-server: /health, /props and /tokenize beside the OpenAI API (with and
        without /v1), and its native /completion (which /completions without /v1 is too)."""
        if method == "GET":
            if path == "/health":
                return (self._llama_health, False)
            if path == "/props":
                return (self._llama_props, True)
            if path in ("/v1/models", "/models"):
                return (self._llama_models, True)
        if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            return (self._llama_chat, True)
        if method == "POST" and path == "/v1/completions":
            return (self._oai_completion, True)
        if method == "POST" and path in ("/completion", "/completions"):
            return (self._llama_native_completion, True)
        if method == "POST" and path == "/tokenize":
            return (self._llama_tokenize, True)
        if method == "POST" and path == "/infill":
            return (self._llama_infill, True)
        if method == "POST" and path == "/apply-template":
            return (self._llama_apply_template, True)
        return None

    def check_auth(self) -> bool:
        want = self.fake.api_key
        if not want or self._bearer_token() == want:
            return True
        self._llama_error(401, "Invalid API Key", "authentication_error")
        return False

    def _not_found(self, path: str) -> None:
        self._llama_error(404, "File Not Found", "not_found_error")

    def _status_fault(self, code: int, msg: Optional[str], headers: Dict[str, str], f: Dict[str, Any],
                      model: str, phrase: str, retry_after: Any) -> None:
        etype = {401: "authentication_error", 404: "not_found_error", 501: "not_supported_error",
                 503: "unavailable_error"}.get(code, "invalid_request_error" if code < 500 else "server_error")
        self._llama_error(code, msg or ("Loading model" if code == 503 else phrase), etype, headers)

    # ----- llama-server's own routes -----------------------------------------------------

    def _llama_error(self, code: int, message: str, etype: str,
                     headers: Optional[Dict[str, str]] = None, **extra: Any) -> None:
        """llama-server's error body: {"error": {"code", "message", "type", ...}}."""
        self._send_json(code, {"error": {"code": code, "message": message, "type": etype, **extra}}, headers)

    def _llama_loading(self) -> bool:
        """While its model loads, llama-server answers every API route with 503."""
        if self.fake._peek_fault("no_model_loaded"):
            self._llama_error(503, "Loading model", "unavailable_error")
            return True
        return False

    def _llama_health(self) -> None:
        if not self._llama_loading():
            self._send_json(200, {"status": "ok"})

    def _llama_props(self) -> None:
        if self._llama_loading():
            return
        fake = self.fake
        self._send_json(200, {
            "default_generation_settings": {"n_ctx": fake.context_length, "params": {"n_predict": -1,
                                                                                     "temperature": 0.8}},
            "total_slots": 1,
            "model_alias": fake.models[0],
            "model_path": "/models/" + fake.models[0],
            "modalities": {"vision": False, "audio": False},
            "chat_template": LLAMA_CHAT_TEMPLATE,
            "build_info": LLAMA_BUILD,
        })

    def _llama_apply_template(self) -> None:
        """POST /apply-template: the messages in the model's chat template with its generation
        prompt after them ({"prompt"}); the fake's model is a ChatML one (Qwen), rendered as
        llama.cpp's llm_chat_apply_template renders ChatML."""
        body = self.req_json if isinstance(self.req_json, dict) else {}
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            self._llama_error(400, "'messages' is required", "invalid_request_error")
            return
        prompt = "".join(f"<|im_start|>{m.get('role')}\n{m.get('content')}<|im_end|>\n" for m in messages)
        self._send_json(200, {"prompt": prompt + "<|im_start|>assistant\n"})

    def _llama_models(self) -> None:
        if self._llama_loading():
            return
        fake = self.fake
        data = [{"id": m, "object": "model", "created": _FIXED_CREATED, "owned_by": "llamacpp",
                 "meta": {"n_ctx_train": 32768, "n_params": 7615616512, "size": 4683073952}}
                for m in fake.models]
        self._send_json(200, {"models": [{"name": m, "model": m} for m in fake.models],
                              "object": "list", "data": data})

    def _llama_chat(self) -> None:
        fake = self.fake
        if self.req_json_error or not isinstance(self.req_json, dict):
            self._llama_error(400, "Failed to parse the request body as JSON", "invalid_request_error")
            return
        if self._llama_loading():
            return
        body = self.req_json
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._llama_error(400, "'messages' is required", "invalid_request_error")
            return
        self._wait_for_model_load(fake.models[0])
        prompt_tokens = _count_prompt_tokens(messages)
        if fake.context_length and prompt_tokens > fake.context_length:
            self._llama_error(
                400,
                f"request ({prompt_tokens} tokens) exceeds the available context size "
                f"({fake.context_length} tokens), try increasing it",
                "exceed_context_size_error", n_prompt_tokens=prompt_tokens, n_ctx=fake.context_length)
            return
        logprobs_error, top = logprobs.chat_request(self.chat_logprobs_style, body)
        if logprobs_error:
            self._completion_error(400, logprobs_error)
            return
        # llama-server serves the one model it loaded, whatever the request names.
        model = fake.models[0]
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        limit = int(limit) if isinstance(limit, (int, float)) and not isinstance(limit, bool) else None
        reply = self._make_reply(limit, messages)
        thoughts = _split_words(fake.reasoning or "")
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        t_start = time.monotonic()
        predicted = reply.count + len(thoughts)
        usage = {"completion_tokens": predicted, "prompt_tokens": prompt_tokens,
                 "total_tokens": prompt_tokens + predicted}

        def timings() -> Dict[str, Any]:
            elapsed_ms = max((time.monotonic() - t_start) * 1000, 1.0)
            return {"prompt_n": prompt_tokens, "prompt_ms": 12.5,
                    "prompt_per_second": prompt_tokens / 0.0125,
                    "predicted_n": predicted, "predicted_ms": elapsed_ms,
                    "predicted_per_second": predicted / (elapsed_ms / 1000)}

        inline = fake.reasoning_inline and fake.reasoning
        if not body.get("stream"):
            if fake.chunk_delay > 0 and predicted:
                self._pause(fake.chunk_delay * predicted)
            message: Dict[str, Any] = {"role": "assistant", "content": reply.full_text()}
            if fake.reasoning and inline:
                message["content"] = f"<think>{fake.reasoning}</think>" + message["content"]
            elif fake.reasoning:
                message["reasoning_content"] = fake.reasoning
            shaped = logprobs.chat_logprobs(self.chat_logprobs_style, list(reply.pieces()), top)
            self._send_json(200, {
                "choices": [{"finish_reason": reply.finish, "index": 0, "message": message,
                             **({"logprobs": shaped} if shaped else {})}],
                "created": created, "model": model, "system_fingerprint": LLAMA_BUILD,
                "object": "chat.completion", "usage": usage, "id": cid,
                **({"timings": timings()} if self.chat_timings else {}),
            })
            return

        so = body.get("stream_options")
        include_usage = isinstance(so, dict) and bool(so.get("include_usage"))

        at_once = self.chat_logprobs_style == "koboldcpp"  # all of them in one chunk before the last

        def chunk(delta: Dict[str, Any], finish: Optional[str], shaped: Optional[Dict[str, Any]] = None,
                  **extra: Any) -> bytes:
            choice = {"finish_reason": finish, "index": 0, "delta": delta}
            if shaped:
                choice["logprobs"] = shaped
            obj = {"choices": [choice],
                   "created": created, "id": cid, "model": model, "system_fingerprint": LLAMA_BUILD,
                   "object": "chat.completion.chunk", **extra}
            return b"data: " + json.dumps(obj).encode("utf-8") + b"\n\n"

        def events() -> Iterator[bytes]:
            yield chunk({"role": "assistant", "content": None}, None)
            if inline:
                yield chunk({"content": "<think>"}, None)
            for piece in thoughts:
                yield chunk({"content": piece} if inline else {"reasoning_content": piece}, None)
            if inline:
                yield chunk({"content": "</think>"}, None)
            for n, piece in enumerate(reply.pieces()):
                shaped = None if at_once else logprobs.chat_logprobs(self.chat_logprobs_style, [piece], top, 1000 + n)
                yield chunk({"content": piece}, None, shaped)
            if at_once and top is not None:
                yield chunk({"role": "assistant", "content": ""}, None,
                            logprobs.chat_logprobs(self.chat_logprobs_style, list(reply.pieces()), top))
            yield chunk({}, reply.finish, **({"timings": timings()} if self.chat_timings else {}))
            if include_usage:
                obj = {"choices": [], "created": created, "id": cid, "model": model,
                       "system_fingerprint": LLAMA_BUILD, "object": "chat.completion.chunk",
                       "usage": usage, **({"timings": timings()} if self.chat_timings else {})}
                yield b"data: " + json.dumps(obj).encode("utf-8") + b"\n\n"
            yield b"data: [DONE]\n\n"

        malformed = b'data: {"choices": [{"delta": {"content": \n\n'
        self._run_stream("text/event-stream", events(), malformed)


class _VLLMHandler(VLLMRoutes, _LlamaServerHandler):
    """vLLM (openai_servers.py), with llama-server's chat."""


class _KoboldCppHandler(KoboldCppRoutes, _LlamaServerHandler):
    """KoboldCpp (openai_servers.py), with llama-server's chat."""


# One handler class per kind: the kind is the backend type the fake stands in for.
HANDLERS = {
    "ollama": _OllamaHandler,
    "lmstudio": _LMStudioHandler,
    "chatgpt": _ChatGPTHandler,
    "openai_compatible": _LlamaServerHandler,
}
# The kinds of server the openai_compatible fake can be.
OPENAI_COMPATIBLE_SERVERS = {"llama.cpp": _LlamaServerHandler, "vllm": _VLLMHandler, "koboldcpp": _KoboldCppHandler}
