"""A story's lorebook: entries sent with a generation only when one of their keys appears in the
recent story text (the last `scan_depth` characters) or the author's note, or always when marked
so; the entries sent share a token budget. It is kept in the story's settings (`settings.lorebook`),
so saves, the library backup and its import carry it like every other setting.

Keys match case-insensitively as whole words. A key marked as a regular expression runs on RE2
(google-re2), whose matching time grows linearly with the text: no pattern can hang the server,
which Python's backtracking `re` cannot promise: `(a+)+$` against 22 a's and a b took `re` 1.7 s,
against 24 10 s, and RE2 0.2 ms against 50,000 (measured on this machine, 2 shared cores). RE2 refuses what it cannot run that way
(backreferences, lookaround): such a key is kept as typed (a half-typed pattern is saved like any
text) and never matches, and the context budget names it with RE2's reason."""
from __future__ import annotations

import functools
import json
import re

import re2

from taleweaver.errors import validation_error

MAX_ENTRIES = 200
MAX_KEYS = 20  # per entry
MAX_KEY_CHARS = 200
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 10_000  # per entry
MAX_LOREBOOK_CHARS = 200_000  # the whole lorebook as JSON
DEFAULT_SCAN_DEPTH = 4_000
MAX_SCAN_DEPTH = 500_000
DEFAULT_TOKEN_BUDGET = 512
MAX_TOKEN_BUDGET = 1_000_000
RE2_MEMORY = 1 << 20  # bytes a compiled key may take (RE2 refuses a pattern that needs more)

FIELD = "settings.lorebook"


def empty() -> dict:
    return {"scan_depth": DEFAULT_SCAN_DEPTH, "token_budget": DEFAULT_TOKEN_BUDGET, "entries": []}


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = RE2_MEMORY
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=2048)
def _pattern(key: str, regex: bool):
    """A compiled key: RE2 for a regular expression, else the key as a whole word."""
    if regex:
        return re2.compile(key, _options())
    return re.compile(rf"(?<!\w){re.escape(key)}(?!\w)", re.IGNORECASE)


def _whole_number(value, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise validation_error(f"{FIELD}.{name}", f"The lorebook's {name.replace('_', ' ')} must be a whole number "
                               f"from {low:,} to {high:,}.")
    return value


def _text(entry: dict, name: str, limit: int, where: str) -> str:
    value = entry.get(name, "")
    if not isinstance(value, str):
        raise validation_error(f"{where}.{name}", f"{where}.{name} must be text.")
    if len(value) > limit:
        raise validation_error(f"{where}.{name}", f"{where}.{name} is longer than {limit:,} characters.")
    return value


def _flag(entry: dict, name: str, default: bool, where: str) -> bool:
    value = entry.get(name, default)
    if not isinstance(value, bool):
        raise validation_error(f"{where}.{name}", f"{where}.{name} must be true or false.")
    return value


def _keys(entry: dict, regex: bool, where: str) -> list[str]:
    keys = entry.get("keys", [])
    if not isinstance(keys, list) or len(keys) > MAX_KEYS:
        raise validation_error(f"{where}.keys", f"{where}.keys must be a list of at most {MAX_KEYS} keys.")
    cleaned = []
    for key in keys:
        if not isinstance(key, str) or not 0 < len(key.strip()) <= MAX_KEY_CHARS:
            raise validation_error(f"{where}.keys", f"Each key of {where} must be text of 1 to {MAX_KEY_CHARS} characters.")
        cleaned.append(key if regex else key.strip())
    return cleaned


def _entry(entry, index: int) -> dict:
    where = f"{FIELD}.entries[{index}]"
    if not isinstance(entry, dict):
        raise validation_error(where, f"{where} must be an object.")
    regex = _flag(entry, "regex", False, where)
    return {
        "name": _text(entry, "name", MAX_NAME_CHARS, where),
        "keys": _keys(entry, regex, where),
        "regex": regex,
        "text": _text(entry, "text", MAX_TEXT_CHARS, where),
        "enabled": _flag(entry, "enabled", True, where),
        "always": _flag(entry, "always", False, where),
    }


def validated(value) -> dict:
    """The lorebook as kept, or a 400 naming the field that is wrong and its bound."""
    if not isinstance(value, dict):
        raise validation_error(FIELD, "The lorebook must be an object with its entries.")
    entries = value.get("entries", [])
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise validation_error(f"{FIELD}.entries", f"A lorebook holds a list of at most {MAX_ENTRIES} entries.")
    lorebook = {
        "scan_depth": _whole_number(value.get("scan_depth"), "scan_depth", 0, MAX_SCAN_DEPTH, DEFAULT_SCAN_DEPTH),
        "token_budget": _whole_number(value.get("token_budget"), "token_budget", 0, MAX_TOKEN_BUDGET,
                                      DEFAULT_TOKEN_BUDGET),
        "entries": [_entry(entry, index) for index, entry in enumerate(entries)],
    }
    if len(json.dumps(lorebook, separators=(",", ":"))) > MAX_LOREBOOK_CHARS:
        raise validation_error(FIELD, f"The lorebook is longer than {MAX_LOREBOOK_CHARS:,} characters as JSON; "
                               "shorten or remove some entries.")
    return lorebook


def of_settings(settings: dict) -> dict:
    """The story's lorebook from its stored settings (an older or unreadable one: empty)."""
    value = settings.get("lorebook")
    return value if isinstance(value, dict) and isinstance(value.get("entries"), list) else empty()


def unusable_key(key: str) -> str | None:
    """Why RE2 cannot run this pattern, or None when it can."""
    try:
        _pattern(key, True)
    except re2.error as bad:
        return bad.args[0].decode(errors="replace") if bad.args and isinstance(bad.args[0], bytes) else str(bad)
    return None


def unusable_keys(lorebook: dict) -> list[dict]:
    """The regular-expression keys of enabled entries that RE2 cannot run, with its reason."""
    found = []
    for entry in lorebook.get("entries", []):
        if entry.get("regex") and entry.get("enabled", True):
            found += [{"name": entry["name"], "key": key, "reason": reason}
                      for key in entry.get("keys", []) if (reason := unusable_key(key))]
    return found


def triggered(entry: dict, scanned: str) -> bool:
    """Whether the entry is to be sent for this scanned text (its keys, or always)."""
    if not entry.get("enabled", True):
        return False
    if entry.get("always"):
        return True
    regex = bool(entry.get("regex"))
    return any(_pattern(key, regex).search(scanned) for key in entry.get("keys", [])
               if not (regex and unusable_key(key)))


def select(lorebook: dict, story_text: str, authors_note: str, cost) -> tuple[list[dict], list[dict]]:
    """(entries sent, entries triggered but left out for the budget), each entry with its
    `tokens` (by `cost`). Always-sent entries come first, then the rest in the lorebook's order;
    an entry that does not fit the budget is left out and smaller ones after it may still go."""
    depth = lorebook.get("scan_depth", DEFAULT_SCAN_DEPTH)
    scanned = (story_text[-depth:] if depth else "") + "\n" + authors_note
    wanted = [entry for entry in lorebook.get("entries", []) if triggered(entry, scanned)]
    wanted.sort(key=lambda entry: not entry.get("always"))
    budget = lorebook.get("token_budget", DEFAULT_TOKEN_BUDGET)
    sent, left_out, used = [], [], 0
    for entry in wanted:
        tokens = cost(entry["text"])
        if used + tokens <= budget:
            sent.append({**entry, "tokens": tokens})
            used += tokens
        else:
            left_out.append({**entry, "tokens": tokens})
    return sent, left_out
