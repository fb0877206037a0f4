"""The LLMService interface every backend implements: its models, a connection test, chat
completions (the spec's three) and text completions, and the optional capabilities declared here
once with their defaults (model details, server facts, model state, context length, where each
sampling setting goes, token counts).

A backend is its descriptor (data: llm/descriptor.py) plus its translation (its service class in
llm/backends/); the sending, timeouts, TLS and error mapping they share are its `http` client
(backend_client.py), which the helpers at the end of the class hand the translation code."""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, Iterator

from cachetools import TTLCache

from taleweaver.llm import diagnosis, tokens, transport
from taleweaver.llm.backend_client import BackendClient
from taleweaver.llm.completions import refuse_unsupported
from taleweaver.llm.descriptor import BackendDescriptor
from taleweaver.llm.errors import BackendError, BackendRejected, ContextLengthExceeded
from taleweaver.llm.samplers import SamplerNames
from taleweaver.llm.stream import Stream
from taleweaver.llm.transport import Response

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_IDLE_TIMEOUT = 60.0
# A model's context length is asked of the backend at most this often (it changes only when the
# model is reloaded with other settings).
CONTEXT_CACHE_SECONDS = 60.0


class LLMService(ABC):
    """What every LLM backend offers: its models, a connection test and chat completions."""

    descriptor: BackendDescriptor  # with backend_type, label and local_server, set by implemented_by
    backend_type = ""
    label = ""
    local_server = False

    def __init__(
        self,
        base_url: str,
        *,
        default_model: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        first_token_timeout: float = 300.0,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        secrets: tuple[str, ...] = (),
        wsl_fallback: bool = True,
        transport: transport.Transport | None = None,
    ):
        self.default_model = default_model
        self.http = BackendClient(
            self.descriptor, base_url, headers=self.headers(), secrets=secrets, connect_timeout=connect_timeout,
            first_token_timeout=first_token_timeout, idle_timeout=idle_timeout, wsl_fallback=wsl_fallback,
            sender=transport,
        )
        self._context_lengths: TTLCache = TTLCache(maxsize=64, ttl=CONTEXT_CACHE_SECONDS)
        self._context_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.http.base_url

    @property
    def resolved_url(self) -> str | None:
        """The Windows host's address that answered instead of localhost (WSL), else None."""
        return self.http.resolved_url

    # ---- the interface -------------------------------------------------------------
    @abstractmethod
    def get_models(self) -> list[str]:
        """The ids of the models this backend can chat with."""

    @abstractmethod
    def chat_completion(self, payload: dict, stream: bool = False) -> dict | Stream:
        """An OpenAI chat completion, or when streaming a Stream of OpenAI chunks (llm/stream.py),
        which its holder can abort.

        A streamed chunk is either a dict or the raw JSON bytes of one chunk as an
        OpenAI-compatible backend sent it (forwarded without re-encoding).
        """

    @abstractmethod
    def completion(self, payload: dict, stream: bool = False) -> dict | Stream:
        """An OpenAI text completion of the payload's `prompt` (a string), or when streaming a
        Stream of `text_completion` chunks (llm/completions.py); a chunk may be raw JSON bytes, as
        in chat_completion."""

    def fill_in_middle(self, payload: dict, prefix: str, suffix: str) -> Stream | None:
        """A streamed chat completion of the text between `prefix` and `suffix`, written by the
        backend's fill-in-the-middle (llm/infill.py), or None when the backend or model has none."""
        return None

    def sampler_names(self) -> SamplerNames:
        """Where this backend takes each sampling setting, and which it cannot take (samplers.py)."""
        return self.descriptor.samplers

    def refuse_unsupported(self, payload: dict) -> None:
        """Refuse a text-completion field this backend cannot honour, before anything is sent."""
        refuse_unsupported(payload, self.descriptor.completion_refusals, self.label)

    def count_tokens(self, texts: list[str], model: str | None = None) -> dict:
        """{"tokenizer", "counts"}: each text's tokens by the backend's tokenizer where it has one,
        else estimated on the long side ("tokenizer": "estimate")."""
        return tokens.estimated(texts)

    def apply_chat_template(self, messages: list[dict], model: str | None = None) -> str | None:
        """The messages in the model's own chat template with its turn opened after them, where
        the server renders it (llama.cpp); None where it does not."""
        return None

    def test_connection(self, generate: bool = False, model: str | None = None) -> dict:
        """Diagnose the connection step by step and report what answered, or what to do."""
        return diagnosis.diagnose(self, generate=generate, model=model)

    def model_details(self) -> list[dict]:
        """Per-model details (size, quantization, state) where the backend gives them."""
        return [{"id": model_id} for model_id in self.get_models()]

    def server_info(self) -> dict | None:
        """Version or similar facts about the server, when the backend tells them."""
        return None

    def model_state(self, model: str | None) -> str | None:
        """Whether a model is loaded, loading or not loaded, when the backend tells."""
        return None

    def context_length(self, model: str | None) -> tuple[int, str]:
        """(tokens of context the model runs with, where that figure comes from), asked of the
        backend at most once a minute per model."""
        with self._context_lock:
            known = self._context_lengths.get(model)
        if known is None:
            known = self.read_context_length(model)
            with self._context_lock:
                self._context_lengths[model] = known
        return known

    def read_context_length(self, model: str | None) -> tuple[int, str]:
        """The context length as the backend tells it now; where it does not, the descriptor's
        documented default."""
        return self.descriptor.default_context_length, "default"

    def context_budget(self, model: str | None, requested: int | None) -> tuple[int, str]:
        """(tokens a story's prompt and answer may fill, where that figure comes from): the
        writer's context size where it becomes the model's (Ollama's num_ctx), else what the
        model runs with, never more than the writer's size."""
        if not requested:
            return self.context_length(model)
        if self.sampler_names().request_sets_context:
            return requested, "your context size"
        running, source = self.context_length(model)
        return (requested, "your context size") if requested < running else (running, source)

    # ---- what the translation code is handed ----------------------------------------
    def headers(self) -> dict:
        """The headers every request to the backend carries (its credentials)."""
        return {}

    def resolve_model(self, payload: dict) -> str:
        model = payload.get("model") or self.default_model
        if not model:
            raise BackendRejected(
                "No model is chosen for this backend: pick a default model in Settings "
                "(a program calling the API can name one in the request's \"model\" field).",
                code="model_required",
                step="generate",
            )
        return model

    def request(self, method: str, path: str, **options: Any) -> Response:
        return self.http.request(method, path, **options)

    def get_json(self, path: str, **options: Any) -> Any:
        return self.http.get_json(path, **options)

    def optional_json(self, path: str) -> Any:
        return self.http.optional_json(path)

    def iter_stream_lines(self, response: Response) -> Iterator[bytes]:
        return self.http.iter_stream_lines(response)

    def malformed(self, line: bytes) -> BackendError:
        return self.http.malformed(line)

    def context_overflow(self, text: str) -> ContextLengthExceeded | None:
        return self.http.context_overflow(text)

    def redact(self, text: str) -> str:
        return self.http.redact(text)

