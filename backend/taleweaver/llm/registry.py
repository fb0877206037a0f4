"""The registry of backend types, in the order the Settings dropdown shows them.

Adding a backend = its module in llm/backends/ (which declares DESCRIPTOR beside its service
class) and one line in BACKEND_MODULES."""
from __future__ import annotations

from taleweaver.llm.backends import lmstudio_service, ollama_service, openai_compatible_service, openai_service
from taleweaver.llm.descriptor import BackendDescriptor

BACKEND_MODULES = (
    lmstudio_service,
    ollama_service,
    openai_service,
    openai_compatible_service,
)

REGISTRY: dict[str, BackendDescriptor] = {module.DESCRIPTOR.type: module.DESCRIPTOR for module in BACKEND_MODULES}
BACKEND_TYPES = tuple(REGISTRY)


def descriptor(backend_type: str) -> BackendDescriptor:
    """The descriptor of a known backend type (KeyError for an unknown one)."""
    return REGISTRY[backend_type]


def public_descriptors() -> list[dict]:
    """Every backend as GET /api/settings/llm/backends serves it."""
    return [d.public() for d in REGISTRY.values()]
