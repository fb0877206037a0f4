"""Fixtures for whole-system tests: the real server and fake LLM servers, on loopback only."""
from __future__ import annotations

import pytest

from tests.fakes import FakeLLMServer
from tests.support import TaleweaverServer


@pytest.fixture(scope="module")
def server():
    """A real Taleweaver server (gunicorn) for the test module, with a fresh database."""
    instance = TaleweaverServer().start()
    yield instance
    instance.close()


@pytest.fixture
def fake_factory():
    """Start fake LLM servers of any kind; all are stopped after the test."""
    started = []

    def start(kind: str, **options) -> FakeLLMServer:
        fake = FakeLLMServer(kind, **options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()
