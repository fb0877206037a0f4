"""What a backend type *is*, as data: label, config fields (which are secret, which say where
the server is), whether it is a local server, what to tell the user at each kind of failure, the
rules that read its own error answers, and the service class that translates its API.

Each backend's module (llm/backends/) declares its descriptor beside its service class;
registry.py lists them. Validation, the masked view, the connection check, the service factory,
error mapping and the OpenAPI enums are generic over these descriptors (in the manner of
LiteLLM's provider configs)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from taleweaver.llm.samplers import LLAMA_CPP, SamplerNames

FIELD_KINDS = ("url", "secret", "text", "seconds")

# Every backend type whose service class has been declared (`implemented_by`), so that code
# below the registry (the service base class naming the server that answered instead) can name
# another backend without importing the registry, which imports every backend's module.
_implemented: dict[str, "BackendDescriptor"] = {}


def implemented(backend_type: str) -> "BackendDescriptor":
    """The descriptor of a backend type whose module has been loaded (KeyError otherwise)."""
    return _implemented[backend_type]


@dataclass(frozen=True)
class ConfigField:
    """One setting of a backend, as the Settings form shows it and validation checks it."""

    name: str
    label: str
    kind: str
    required: bool = False
    default: Any = None
    placeholder: str | None = None
    help: str | None = None
    advanced: bool = False
    # What the error says when a required value is missing.
    missing_message: str | None = None
    # Part of the connection a stored secret is bound to (always true of the URL field).
    binds_secrets: bool = False

    def __post_init__(self):
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"field kind must be one of {FIELD_KINDS}, not {self.kind!r}")

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    def public(self) -> dict:
        """The field as GET /api/settings/llm/backends describes it (all nine keys)."""
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "required": self.required,
            "secret": self.secret,
            "default": self.default,
            "placeholder": self.placeholder,
            "help": self.help,
            "advanced": self.advanced,
        }


def timeout_fields(first_token: float = 300) -> tuple[ConfigField, ...]:
    """The three timeouts every backend has, with this backend's first-token default."""
    return (
        ConfigField("connect_timeout", "Connect timeout", "seconds", default=5, advanced=True,
                    help="How long to wait for the server to accept a connection."),
        ConfigField("first_token_timeout", "First-token timeout", "seconds", default=first_token, advanced=True,
                    help="How long to wait for the first word of an answer (a model may be loading)."),
        ConfigField("idle_timeout", "Idle timeout", "seconds", default=60, advanced=True,
                    help="How long a streamed answer may pause between two pieces."),
    )


@dataclass(frozen=True)
class Hints:
    """What to tell the user at each kind of failure; {label} and {base_url} are filled in."""

    unreachable: str = "Is {label} running, and is the URL in Settings right?"
    auth: str = "Check the credentials in Settings."
    model: str = "Pick a model from the list in Settings (Refresh Models shows what is available)."
    no_models: str = "{label} answered but offers no models yet."
    context: str = "Use a model with a longer context, or send a shorter prompt."
    missing_endpoint: str = "Check that the URL points at {label} itself, without an extra path."

    def filled(self, **values: str) -> "Hints":
        return Hints(**{name: text.format(**values) for name, text in dataclasses.asdict(self).items()})


# A rule reads one of the backend's own error answers (failures.Answer) and gives the error for
# it, or None to leave it to the rules every backend shares; it also gets the backend's client.
ErrorRule = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class BackendDescriptor:
    """One backend type: the single source of truth for everything that differs between them."""

    type: str
    label: str
    description: str
    local: bool
    fields: tuple[ConfigField, ...]
    # Strip an API suffix users paste (/v1, /api) from the URL: the service adds its own paths.
    strip_api_suffix: bool = False
    # The context length (tokens) assumed when the backend does not say: the page's budget and
    # the trimming of old story text use it (see LLMService.context_length).
    default_context_length: int = 4096
    # The URL field is the base of an OpenAI-style API (ending in /v1), not the server's root.
    api_base_url: bool = False
    hints: Hints = Hints()
    # Where it takes each sampling setting (llm/samplers.py); an OpenAI-compatible server's
    # service chooses by the kind of server it finds.
    samplers: SamplerNames = LLAMA_CPP
    # Text-completion request fields it cannot honour -> why (llm/completions.py refuses them).
    completion_refusals: Mapping[str, str] = field(default_factory=dict)
    error_rules: tuple[ErrorRule, ...] = field(default=(), compare=False)
    service: type = field(default=None, compare=False)  # set by implemented_by

    def implemented_by(self, cls: type) -> type:
        """Class decorator: `cls` is this backend's service; it takes its type, label and
        locality from here."""
        cls.backend_type = self.type
        cls.label = self.label
        cls.local_server = self.local
        cls.descriptor = self
        object.__setattr__(self, "service", cls)
        _implemented[self.type] = self
        return cls

    def field(self, name: str) -> ConfigField:
        return next(f for f in self.fields if f.name == name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def url_field(self) -> ConfigField:
        """The field that says where the server is."""
        return next(f for f in self.fields if f.kind == "url")

    @property
    def secret_fields(self) -> tuple[ConfigField, ...]:
        return tuple(f for f in self.fields if f.secret)

    @property
    def connection_fields(self) -> tuple[ConfigField, ...]:
        """The fields a stored secret is bound to: a key saved for one address is never
        sent to another."""
        return tuple(f for f in self.fields if f.kind == "url" or f.binds_secrets)

    @property
    def timeout_defaults(self) -> dict[str, float]:
        return {f.name: f.default for f in self.fields if f.kind == "seconds"}

    def public(self) -> dict:
        """The descriptor as GET /api/settings/llm/backends serves it."""
        return {
            "type": self.type,
            "label": self.label,
            "local": self.local,
            "description": self.description,
            "fields": [f.public() for f in self.fields],
        }
