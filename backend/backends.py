"""The registry of backend types, in the order the Settings dropdown shows them.

Adding a backend = its module (descriptor + service) and one line here."""
from __future__ import annotations

import lmstudio_service
import ollama_service
import openai_compatible_service
import openai_service
from backend_descriptor import BackendDescriptor

REGISTRY: dict[str, BackendDescriptor] = {
    descriptor.type: descriptor
    for descriptor in (
        lmstudio_service.DESCRIPTOR,
        ollama_service.DESCRIPTOR,
        openai_service.DESCRIPTOR,
        openai_compatible_service.DESCRIPTOR,
    )
}
BACKEND_TYPES = tuple(REGISTRY)


def descriptor(backend_type: str) -> BackendDescriptor:
    """The descriptor of a known backend type (KeyError for an unknown one)."""
    return REGISTRY[backend_type]


def public_descriptors() -> list[dict]:
    """Every backend as GET /api/settings/llm/backends serves it."""
    return [d.public() for d in REGISTRY.values()]
