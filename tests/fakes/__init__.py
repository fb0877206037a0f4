"""Fake Ollama / LM Studio / OpenAI servers for tests, benchmarks and demos.

    from tests.fakes import FakeLLMServer
    with FakeLLMServer("ollama").start() as srv:
        ...  # point the app at srv.url

Run one by hand: ``python -m tests.fakes ollama`` (see README.md beside this file).
"""

from .certificates import CertificateAuthority, self_signed_context
from .proxy import RecordingProxy
from .server import (
    DEFAULT_MODELS,
    DEFAULT_PORTS,
    DEFAULT_REPLY,
    FAULT_NAMES,
    KINDS,
    FakeLLMServer,
    mask_api_key,
)

__all__ = [
    "FakeLLMServer",
    "RecordingProxy",
    "CertificateAuthority",
    "self_signed_context",
    "KINDS",
    "DEFAULT_MODELS",
    "DEFAULT_PORTS",
    "DEFAULT_REPLY",
    "FAULT_NAMES",
    "mask_api_key",
]
