"""The registry of backend types, in the order the Settings dropdown shows them.

Adding a backend = its module (which declares DESCRIPTOR beside its service class) and one line
in BACKEND_MODULES."""
from __future__ import annotations

import importlib

from backend_descriptor import BackendDescriptor

BACKEND_MODULES = (
    "lmstudio_service",
    "ollama_service",
    "openai_service",
    "openai_compatible_service",
)

REGISTRY: dict[str, BackendDescriptor] = {
    descriptor.type: descriptor
    for descriptor in (importlib.import_module(name).DESCRIPTOR for name in BACKEND_MODULES)
}
BACKEND_TYPES = tuple(REGISTRY)


def descriptor(backend_type: str) -> BackendDescriptor:
    """The descriptor of a known backend type (KeyError for an unknown one)."""
    return REGISTRY[backend_type]


def public_descriptors() -> list[dict]:
    """Every backend as GET /api/settings/llm/backends serves it."""
    return [d.public() for d in REGISTRY.values()]
