"""Texts kept once per story (docs/STORAGE.md): a text is cut into chunks at content-defined
places, each chunk is stored once per story, and a kept text is the list of its chunks; every
revision, undo step and version refers to a text by id instead of holding a copy."""
from __future__ import annotations

import hashlib
import itertools
import re
import zlib

from taleweaver.storage.db import dialect_of

# A chunk ends at a line end or a sentence end whose CRC-32 is a multiple of CUT_DIVISOR, once it
# holds MIN_CHUNK characters: where the cuts fall depends on the text around them only, so an
# edit changes the chunk it lies in and keeps every other one (a fixed-size cut would move them
# all). A run of text without such an end is cut every MAX_CHUNK characters.
MIN_CHUNK = 2048
MAX_CHUNK = 16384
CUT_DIVISOR = 16
_UNIT_END = re.compile(r"\n|[.!?][\"'\u201d\u2019)\]]*[ \t]")
# What a row of references costs beside its text: ids, lengths, the row's own overhead.
REFERENCE_BYTES = 48
SQL_BATCH = 500  # ids per IN (...) list


def digest(text: str) -> str:
    """The text's identity within its story."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def split(text: str) -> list[str]:
    """The text's chunks, in order ("".join gives it back)."""
    chunks, start, unit_start = [], 0, 0
    ends = itertools.chain((match.end() for match in _UNIT_END.finditer(text)), (len(text),))
    for end in ends:
        while end - start > MAX_CHUNK:
            chunks.append(text[start:start + MAX_CHUNK])
            start += MAX_CHUNK
        if end - start >= MIN_CHUNK and zlib.crc32(text[unit_start:end].encode("utf-8")) % CUT_DIVISOR == 0:
            chunks.append(text[start:end])
            start = end
        unit_start = end
    if start < len(text):
        chunks.append(text[start:])
    return chunks


def _batches(items: list) -> list[list]:
    return [items[i:i + SQL_BATCH] for i in range(0, len(items), SQL_BATCH)]


def keep(conn, story_id: int, text: str) -> tuple[int, int]:
    """Keep the text for the story (in the caller's transaction): its id and the bytes this added
    (0 when the story kept it already; else its new chunks and its list of references)."""
    whole = digest(text)
    row = conn.execute("SELECT id FROM texts WHERE story_id = ? AND digest = ?", (story_id, whole)).fetchone()
    if row is not None:
        return row["id"], 0
    chunks = split(text)
    digests = [digest(chunk) for chunk in chunks]
    ids: dict[str, int] = {}
    for batch in _batches(sorted(set(digests))):
        for found in conn.execute(
                f"SELECT id, digest FROM text_chunks WHERE story_id = ? AND digest IN ({', '.join('?' * len(batch))})",
                (story_id, *batch)):
            ids[found["digest"]] = found["id"]
    added = 0
    for chunk, chunk_digest in zip(chunks, digests):
        if chunk_digest not in ids:
            size = len(chunk.encode("utf-8"))
            ids[chunk_digest] = conn.execute(
                "INSERT INTO text_chunks (story_id, digest, body, bytes) VALUES (?, ?, ?, ?)",
                (story_id, chunk_digest, chunk, size),
            ).lastrowid
            added += size
    chunk_ids = ",".join(str(ids[d]) for d in digests)
    size = len(chunk_ids) + REFERENCE_BYTES
    text_id = conn.execute(
        "INSERT INTO texts (story_id, digest, chunk_ids, length, bytes) VALUES (?, ?, ?, ?, ?)",
        (story_id, whole, chunk_ids, len(text), size),
    ).lastrowid
    return text_id, added + size


def keep_new(conn, items: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """keep() for many texts of stories that keep none yet (an import's new stories), in a few
    statements for them all: (text id, bytes added) of each (story id, text), in order."""
    chunks: dict[tuple[int, str], tuple[str, int]] = {}  # (story, digest): (body, index among the new)
    wholes: dict[tuple[int, str], tuple[int, list, int]] = {}  # (story, digest): (index, chunk keys, length)
    keys = [(story_id, digest(text)) for story_id, text in items]
    for key, (story_id, text) in zip(keys, items):
        if key not in wholes:
            parts = split(text)
            part_keys = [(story_id, digest(part)) for part in parts]
            for part_key, part in zip(part_keys, parts):
                chunks.setdefault(part_key, (part, len(chunks)))
            wholes[key] = (len(wholes), part_keys, len(text))
    sql = dialect_of(conn)
    chunk_ids = sql.new_ids(conn, "text_chunks", len(chunks)) if chunks else []
    text_ids = sql.new_ids(conn, "texts", len(wholes)) if wholes else []
    conn.executemany("INSERT INTO text_chunks (id, story_id, digest, body, bytes) VALUES (?, ?, ?, ?, ?)",
                     [(chunk_ids[index], story_id, chunk_digest, body, len(body.encode("utf-8")))
                      for (story_id, chunk_digest), (body, index) in chunks.items()])
    listed = {key: ",".join(str(chunk_ids[chunks[part][1]]) for part in part_keys)
              for key, (_, part_keys, _) in wholes.items()}
    conn.executemany("INSERT INTO texts (id, story_id, digest, chunk_ids, length, bytes) VALUES (?, ?, ?, ?, ?, ?)",
                     [(text_ids[index], key[0], key[1], listed[key], length, len(listed[key]) + REFERENCE_BYTES)
                      for key, (index, _, length) in wholes.items()])
    result, counted = [], set()  # each text, and each chunk, counted once: where it first comes
    for key in keys:
        index, part_keys, _ = wholes[key]
        if key in counted:
            result.append((text_ids[index], 0))
            continue
        fresh = [part for part in dict.fromkeys(part_keys) if part not in counted]
        counted.update([key, *fresh])
        result.append((text_ids[index], len(listed[key]) + REFERENCE_BYTES
                       + sum(len(chunks[part][0].encode("utf-8")) for part in fresh)))
    return result


def read(conn, text_id: int) -> str:
    """The kept text."""
    row = conn.execute("SELECT chunk_ids FROM texts WHERE id = ?", (text_id,)).fetchone()
    if row is None or not row["chunk_ids"]:
        return ""
    ids = [int(part) for part in row["chunk_ids"].split(",")]
    bodies: dict[int, str] = {}
    for batch in _batches(sorted(set(ids))):
        for chunk in conn.execute(
                f"SELECT id, body FROM text_chunks WHERE id IN ({', '.join('?' * len(batch))})", tuple(batch)):
            bodies[chunk["id"]] = chunk["body"]
    return "".join(bodies[i] for i in ids)


def digests(conn, text_ids: list[int]) -> dict[int, str]:
    """The digest of each kept text, by id."""
    found: dict[int, str] = {}
    for batch in _batches(sorted(set(text_ids))):
        for row in conn.execute(f"SELECT id, digest FROM texts WHERE id IN ({', '.join('?' * len(batch))})",
                                tuple(batch)):
            found[row["id"]] = row["digest"]
    return found


def _chunk_ids(conn, text_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for batch in _batches(sorted(set(text_ids))):
        for row in conn.execute(f"SELECT chunk_ids FROM texts WHERE id IN ({', '.join('?' * len(batch))})",
                                tuple(batch)):
            if row["chunk_ids"]:
                found.update(int(part) for part in row["chunk_ids"].split(","))
    return found


def bytes_beyond(conn, text_ids: list[int], other_text_ids: list[int]) -> int:
    """The bytes of the chunks of `text_ids` that `other_text_ids` do not hold: what keeping the
    first texts costs beyond the others (an undo step beyond the one before it)."""
    extra = sorted(_chunk_ids(conn, text_ids) - _chunk_ids(conn, other_text_ids))
    total = 0
    for batch in _batches(extra):
        total += conn.execute(f"SELECT coalesce(sum(bytes), 0) FROM text_chunks WHERE id IN ({', '.join('?' * len(batch))})",
                              tuple(batch)).fetchone()[0]
    return total


def drop_unused_chunks(conn, story_id: int) -> None:
    """Delete the story's chunks that no kept text lists any more (after its texts were thinned)."""
    used: set[int] = set()
    for row in conn.execute("SELECT chunk_ids FROM texts WHERE story_id = ?", (story_id,)):
        if row["chunk_ids"]:
            used.update(int(part) for part in row["chunk_ids"].split(","))
    unused = [row["id"] for row in conn.execute("SELECT id FROM text_chunks WHERE story_id = ?", (story_id,))
              if row["id"] not in used]
    for batch in _batches(unused):
        conn.execute(f"DELETE FROM text_chunks WHERE id IN ({', '.join('?' * len(batch))})", tuple(batch))


def passage_digest(start: int, stop: int | None, chosen: int, text_ids: list[int]) -> str:
    """A passage's identity within its story: its range, its versions and the chosen one."""
    return digest(f"{start}:{stop}:{chosen}:{','.join(map(str, text_ids))}")


def keep_passage(conn, story_id: int, start: int, stop: int | None, chosen: int,
                 text_ids: list[int]) -> tuple[int, int]:
    """Keep a range of the story's text with its versions (kept texts, in order) and the chosen
    one: its id and the bytes this added (0 when the story kept the same passage already)."""
    key = passage_digest(start, stop, chosen, text_ids)
    row = conn.execute("SELECT id FROM story_passages WHERE story_id = ? AND digest = ?", (story_id, key)).fetchone()
    if row is not None:
        return row["id"], 0
    passage_id = conn.execute(
        "INSERT INTO story_passages (story_id, start, stop, chosen, digest) VALUES (?, ?, ?, ?, ?)",
        (story_id, start, stop, chosen, key),
    ).lastrowid
    conn.executemany("INSERT INTO passage_versions (passage_id, position, text_id) VALUES (?, ?, ?)",
                     [(passage_id, position, text_id) for position, text_id in enumerate(text_ids)])
    return passage_id, REFERENCE_BYTES * (1 + len(text_ids))


def passage(conn, passage_id: int | None) -> dict | None:
    """{"id", "start", "stop", "chosen", "text_ids"} of a kept passage, or None."""
    if passage_id is None:
        return None
    row = conn.execute("SELECT id, start, stop, chosen FROM story_passages WHERE id = ?", (passage_id,)).fetchone()
    if row is None:
        return None
    text_ids = [version["text_id"] for version in conn.execute(
        "SELECT text_id FROM passage_versions WHERE passage_id = ? ORDER BY position", (passage_id,))]
    return {"id": row["id"], "start": row["start"], "stop": row["stop"], "chosen": row["chosen"], "text_ids": text_ids}
