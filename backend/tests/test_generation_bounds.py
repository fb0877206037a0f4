"""A generation's bounds in the process (issue 25; the whole-system cases are in
tests/system/test_generation_bounds.py): valid Unicode out of any stream, a write that fails is
its own job's failure alone, the text persisted by appending pieces, and the caps of streams."""
import json
import logging
import threading

import pytest

import llm_service
from taleweaver.errors import ApiError
from taleweaver.generations import leases, store
from taleweaver.llm import transport
from taleweaver.llm.surrogates import ChunkRepair, TextRepair
from tests.database import connection
from tests.test_stories_and_generations import (  # noqa: F401 - fixtures
    ScriptedService,
    generate,
    new_story,
    service,
    sse,
    story_app,
    text_of,
    wait_for,
    wait_until_ended,
    web,
)

# ---- valid Unicode -------------------------------------------------------------------------------


@pytest.mark.parametrize("pieces, valid", [
    (["Hi ", "\ud83d", "\ude00 there"], "Hi \U0001f600 there"),  # a pair split across two pieces
    (["Hi \ud83d\ude00"], "Hi \U0001f600"),  # a pair in one piece, as json.loads may leave it
    (["a \ud800 b", " c \udc00"], "a \ufffd b c \ufffd"),  # lone halves
    (["end \ud83d"], "end \ufffd"),  # a high half at the very end of the stream
    (["\ud83d", "no low half"], "\ufffdno low half"),
    (["nul \x00 here"], "nul \ufffd here"),
    (["plain ascii", " and caf\u00e9 \U0001f600"], "plain ascii and caf\u00e9 \U0001f600"),
])
def test_the_text_a_generation_keeps_is_valid_unicode_whatever_the_pieces(pieces, valid):
    repair = TextRepair()
    text = "".join(repair.text("content", piece) for piece in pieces) + repair.end("content")
    assert text == valid
    text.encode("utf-8")  # storable and sendable as it is


def test_each_field_waits_for_its_own_other_half():
    repair = TextRepair()
    assert repair.text("content", "a\ud83d") == "a" and repair.text("reasoning", "\ude00b") == "\ufffdb"
    assert repair.text("content", "\ude00c") == "\U0001f600c"


def _chunk(content) -> bytes:
    return json.dumps({"id": "x", "choices": [{"index": 0, "delta": {"content": content}}]}).encode()


def _relayed(chunks) -> str:
    repair, out = ChunkRepair(), []
    for chunk in chunks:
        out += repair.feed(chunk) if repair.needed(chunk) else [chunk]
    out += repair.flush()
    texts = []
    for item in out:
        data = json.loads(item) if isinstance(item, bytes) else item
        texts.append(data["choices"][0]["delta"].get("content") or "" if data["choices"] else "")
    return "".join(texts)


def test_the_relay_joins_a_pair_split_across_chunks_and_makes_lone_halves_u_fffd():
    chunks = [_chunk("Hi "), _chunk("\ud83d"), _chunk("\ude00 and \ud800"), _chunk(" end\ud83d"),
              json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}).encode()]
    assert _relayed(chunks) == "Hi \U0001f600 and \ufffd end\ufffd"


def test_the_relay_passes_a_chunk_without_a_surrogate_escape_as_the_same_bytes():
    repair = ChunkRepair()
    plain, emoji = _chunk("caf\u00e9 ok"), _chunk("\U0001f600")  # json.dumps escapes a valid pair too
    assert not repair.needed(plain) and repair.needed(emoji)
    assert repair.feed(emoji) == [emoji]  # looked at, valid: the backend's own bytes go on


def test_the_relay_repairs_chunks_a_backend_translates_into_dicts():
    chunks = [{"choices": [{"delta": {"content": "a\ud83d"}}]}, {"choices": [{"delta": {"content": "\ude00"}}]}]
    assert _relayed(chunks) == "a\U0001f600"


# ---- a line that never ends ------------------------------------------------------------------------


class _Raw:
    """What transport._iter_lines reads: read1() of scripted blocks."""

    def __init__(self, blocks):
        self.blocks = list(blocks)
        self.read = 0

    def read1(self, size):
        if not self.blocks:
            return b""
        block = self.blocks.pop(0)
        self.read += len(block)
        return block


def test_a_line_longer_than_the_bound_stops_the_read_there_and_the_lines_before_it_arrive():
    raw = _Raw([b'data: {"a":1}\n\ndata: {"b"', b":2}\n", *[b"x" * 65536] * 640])  # then 40 MiB, no break
    lines = []
    with pytest.raises(transport.LineTooLong):
        for line in transport._iter_lines(raw, 5, (OSError,)):
            lines.append(line)
    assert lines == [b'data: {"a":1}', b'data: {"b":2}']
    assert raw.read < transport.MAX_LINE_BYTES + 3 * 65536  # it stopped reading at the bound


def test_lines_split_across_reads_arrive_whole_and_a_last_line_without_a_break_is_kept():
    raw = _Raw([b"one\ntw", b"o", b"\nthr", b"ee\n\nfour"])
    assert list(transport._iter_lines(raw, 5, (OSError,))) == [b"one", b"two", b"three", b"four"]


# ---- a write that fails is its own job's failure ----------------------------------------------------


class HeldTwice(ScriptedService):
    """Waits at piece 10 (until `release`) and at piece 20 (until `second`)."""

    def __init__(self, pieces):
        super().__init__(pieces, hold_at=10)
        self.second = threading.Event()

    def _chunks(self, pieces=None):
        for index, chunk in enumerate(super()._chunks(pieces)):
            if index == 20:
                self.second.wait(10)
            yield chunk


def test_a_generation_whose_write_fails_ends_failed_alone_and_the_log_says_so_once(web, story_app, monkeypatch, caplog):
    words = [f" w{n}" for n in range(40)]
    doomed_service, other_service = HeldTwice(words), ScriptedService(pieces=words, hold_at=30)
    services = [doomed_service, other_service]
    web.post("/api/settings/llm", json={"backend_type": "ollama", "config": {}, "default_model": "llama3.2:3b"})
    monkeypatch.setattr(llm_service, "get_active_llm_service", lambda user_id=None: services.pop(0))
    doomed, other = new_story(web), new_story(web)
    failing = {}
    appended = store.append

    def refuse_its_second_piece(conn, generation_id, owner, piece, *args):
        if generation_id == failing.get("id") and piece[0] >= 1:
            raise ValueError("refused by the test")
        return appended(conn, generation_id, owner, piece, *args)

    monkeypatch.setattr(store, "append", refuse_its_second_piece)
    caplog.set_level(logging.ERROR, logger="taleweaver.generations")
    first = generate(web, doomed["id"])
    failing["id"] = int(first.headers["X-Taleweaver-Generation"])
    second = generate(web, other["id"])
    try:
        wait_for(lambda: web.get(f"/api/stories/{doomed['id']}").get_json()["content"] == "".join(words[:10]))
        doomed_service.release.set()  # its next piece, while it waits again, is refused
        doomed_end = wait_until_ended(web, failing["id"])
    finally:
        doomed_service.release.set()
        doomed_service.second.set()
        other_service.release.set()
    events = sse(second.get_data())

    assert doomed_end["status"] == "failed" and doomed_end["error"]["code"] == "not_saved"
    assert "could not save" in doomed_end["error"]["message"] and "ValueError" in doomed_end["error"]["message"]
    assert web.get(f"/api/stories/{doomed['id']}").get_json()["content"] == "".join(words[:10])
    assert sse(first.get_data())[-2][1]["taleweaver"]["status"] == "failed"
    assert text_of(sse(first.get_data())) == "".join(words[:10])  # what its followers saw is what was saved
    assert text_of(events) == "".join(words) and events[-2][1]["taleweaver"]["status"] == "finished"
    assert [r.getMessage() for r in caplog.records].count(
        f"generation {failing['id']}: its new text could not be saved (ValueError); it ends as failed, "
        "the other generations go on") == 1


# ---- persisting appends ------------------------------------------------------------------------------


def test_a_running_generation_appends_pieces_and_leaves_the_story_row_alone_until_it_ends(web, story_app, service):
    service.hold_at = 5
    story = new_story(web, content="Long ago. ")
    response = generate(web, story["id"])
    generation_id = int(response.headers["X-Taleweaver-Generation"])
    service.reached_hold.wait(5)
    try:
        wait_for(lambda: web.get(f"/api/stories/{story['id']}").get_json()["content"] == "Long ago. Once upon a time there")
        with connection(story_app) as conn:
            row = conn.execute("SELECT content, revision FROM stories WHERE id = ?", (story["id"],)).fetchone()
            pieces = conn.execute("SELECT text, text_end FROM generation_pieces WHERE generation_id = ? ORDER BY seq",
                                  (generation_id,)).fetchall()
    finally:
        service.release.set()
    ended = wait_until_ended(web, generation_id)

    assert tuple(row) == ("Long ago. ", 1)  # the story's row is not rewritten while its text grows
    assert "".join(p[0] for p in pieces) == "Once upon a time there" and pieces[-1][1] == len("Once upon a time there")
    assert ended["status"] == "finished" and ended["text_length"] == len("Once upon a time there was a fox.")
    with connection(story_app) as conn:
        assert conn.execute("SELECT count(*) FROM generation_pieces").fetchone()[0] == 0
        assert conn.execute("SELECT text FROM generations WHERE id = ?", (generation_id,)).fetchone()[0] == \
            "Once upon a time there was a fox."


# ---- the caps of streams ----------------------------------------------------------------------------


def test_past_the_cap_a_lease_is_refused_with_429_and_a_given_back_one_frees_its_place(story_app):
    story_app.config["USER_STREAMS"] = 2
    with story_app.app_context(), connection(story_app) as conn:
        user_id = conn.execute("SELECT id FROM users").fetchone()[0]
        held = [leases.take_alone(story_app, conn, user_id, "stream") for _ in range(2)]
        with pytest.raises(ApiError) as refused:
            leases.take_alone(story_app, conn, user_id, "generation")
        assert refused.value.status == 429 and refused.value.code == "too_many_streams"
        assert refused.value.retry_after == leases.RETRY_AFTER_SECONDS and "(now 2)" in refused.value.hint
        leases.give_back(story_app, held[0])
        held.append(leases.take_alone(story_app, conn, user_id, "generation"))
        conn.execute("UPDATE stream_leases SET heartbeat_at = heartbeat_at - 3600 WHERE id = ?", (held[1],))
        held.append(leases.take_alone(story_app, conn, user_id, "stream"))  # a dead process's lease stops counting
        for lease in held:
            leases.give_back(story_app, lease)
        assert conn.execute("SELECT count(*) FROM stream_leases").fetchone()[0] == 0


def test_in_single_user_mode_no_lease_is_taken_unless_a_cap_is_set(story_app):
    assert story_app.config["AUTH_MODE"] == "single" and leases.cap_of(story_app) == 0
    with story_app.app_context(), connection(story_app) as conn:
        assert leases.take_alone(story_app, conn, 1, "stream") is None
        assert conn.execute("SELECT count(*) FROM stream_leases").fetchone()[0] == 0

