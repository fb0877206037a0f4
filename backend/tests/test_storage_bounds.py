"""Stored size has bounds (issue 25, docs/STORAGE.md): text kept once however many revisions, undo
steps and versions show it; the undo history as a tree whose redo works as before; a per-story
bound on history bytes; the per-user quota (507); the import linear, staged and all or nothing;
the backup streamed and imported again."""
import json
import random
import string

import pytest

from taleweaver.stories import library
from tests.database import connection, query
from tests.test_stories_and_generations import new_story, story_app, web  # noqa: F401 (fixtures)


def words(count: int, seed: int) -> str:
    """Text of `count` characters in sentences and paragraphs (as a story's text is)."""
    rnd, parts, size = random.Random(seed), [], 0
    while size < count:
        word = "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(2, 9)))
        end = rnd.choice([" ", " ", " ", " ", " ", ". ", ".\n\n"])
        parts.append(word + end)
        size += len(word) + len(end)
    return "".join(parts)[:count]


def backup_of(*stories) -> dict:
    return {"format": "taleweaver-library", "version": 1, "stories": list(stories)}


def kept_chunk_bytes(app, story_id: int) -> int:
    return query(app, "SELECT coalesce(sum(bytes), 0) FROM text_chunks WHERE story_id = ?", (story_id,))[0][0]


def test_versions_are_kept_once_however_many_small_edits_follow(story_app, web):
    versions = [words(100_000, seed) for seed in range(5)]
    content = "An opening.\n\n" + versions[4]
    imported = web.post("/api/stories/import", json=backup_of(
        {"title": "Big", "content": content, "alternatives": {"start": 13, "versions": versions, "chosen": 4}}))
    assert imported.status_code == 201, imported.get_json()
    story_id = imported.get_json()["stories"][0]["id"]
    before = kept_chunk_bytes(story_app, story_id)
    assert before < 1.1 * sum(len(v) for v in versions) + 20_000  # the text is one of the versions
    story = web.get(f"/api/stories/{story_id}").get_json()
    for number in range(20):
        content = content[:5000] + f" edit {number}" + content[5000:]
        story = web.patch(f"/api/stories/{story_id}", json={"base_revision": story["revision"], "content": content}).get_json()
    assert story["content"] == content and story["alternatives"] == {"start": 13, "chosen": 4, "count": 5}
    # 20 edits of a few bytes each add a chunk each (a few KiB), not a copy of the text or versions.
    assert kept_chunk_bytes(story_app, story_id) - before < 20 * 20_000
    chosen = web.post(f"/api/stories/{story_id}/alternatives", json={"base_revision": story["revision"], "index": 0})
    assert chosen.status_code == 200 and chosen.get_json()["content"].endswith(versions[0])


def test_an_edit_after_an_undo_keeps_the_undone_steps_as_a_branch_and_redo_works_as_before(story_app, web):
    story = new_story(web, content="one")
    for text in ("one two", "one two three"):
        story = web.patch(f"/api/stories/{story['id']}", json={"base_revision": story["revision"], "content": text}).get_json()
    story = web.post(f"/api/stories/{story['id']}/undo", json={"base_revision": story["revision"]}).get_json()
    assert story["content"] == "one two" and story["history"]["can_redo"]
    story = web.patch(f"/api/stories/{story['id']}", json={"base_revision": story["revision"], "content": "one two four"}).get_json()
    assert story["history"]["can_redo"] is False  # as before: an edit after an undo leaves nothing to redo
    story = web.post(f"/api/stories/{story['id']}/undo", json={"base_revision": story["revision"]}).get_json()
    assert story["content"] == "one two" and story["history"]["redo_label"] == "edit"
    story = web.post(f"/api/stories/{story['id']}/redo", json={"base_revision": story["revision"]}).get_json()
    assert story["content"] == "one two four"
    # "one two three" is kept as a step of its own branch (issue 24 will show it).
    steps = query(story_app, "SELECT parent_id FROM history_nodes WHERE story_id = ?", (story["id"],))
    assert len(steps) == 4 and len({parent for (parent,) in steps}) == 3  # two children share one parent


def test_the_oldest_undo_steps_go_past_the_bytes_bound_never_the_current_text(story_app, web):
    story_app.config["HISTORY_BYTES"] = 60_000
    story = new_story(web, content=words(20_000, 0))
    for seed in range(1, 8):
        story = web.patch(f"/api/stories/{story['id']}",
                          json={"base_revision": story["revision"], "content": words(20_000, seed)}).get_json()
    steps = query(story_app, "SELECT added_bytes FROM history_nodes WHERE story_id = ? ORDER BY id", (story["id"],))
    assert len(steps) < 8 and sum(size for (size,) in steps) <= 60_000
    assert story["history"]["steps"] == len(steps)
    undone = 0
    while story["history"]["can_undo"]:
        story = web.post(f"/api/stories/{story['id']}/undo", json={"base_revision": story["revision"]}).get_json()
        undone += 1
    assert undone == len(steps) - 1 and story["content"] == words(20_000, 8 - len(steps))
    while story["history"]["can_redo"]:
        story = web.post(f"/api/stories/{story['id']}/redo", json={"base_revision": story["revision"]}).get_json()
    assert story["content"] == words(20_000, 7)


def test_a_write_past_the_quota_is_refused_with_507_and_one_that_frees_space_is_not(story_app, web):
    story_app.config["STORAGE_QUOTA"] = 300_000
    small = new_story(web, content=words(20_000, 1))
    refused = web.post("/api/stories", json={"premise": "More", "content": words(200_000, 2)})
    assert refused.status_code == 507
    error = refused.get_json()["error"]
    assert error["code"] == "quota_exceeded" and "TALEWEAVER_STORAGE_QUOTA" in error["hint"]
    assert error["quota_bytes"] == 300_000 and error["used_bytes"] + error["needed_bytes"] > 300_000
    assert [s["id"] for s in web.get("/api/stories").get_json()["stories"]] == [small["id"]]  # nothing saved
    grown = web.patch(f"/api/stories/{small['id']}", json={"base_revision": small["revision"], "content": words(200_000, 3)})
    assert grown.status_code == 507
    shorter = web.patch(f"/api/stories/{small['id']}", json={"base_revision": small["revision"], "content": "Short now."})
    assert shorter.status_code == 200
    use = web.get("/api/stories/storage").get_json()
    assert use["quota_bytes"] == 300_000 and use["stories"] == 1 and 20_000 < use["used_bytes"] < 300_000
    assert web.delete(f"/api/stories/{small['id']}").status_code == 204
    assert web.get("/api/stories/storage").get_json()["used_bytes"] == 0


def test_an_import_of_many_stories_of_one_title_numbers_them_once_each(story_app, web):
    new_story(web, title="Same", content="Already here.")
    imported = web.post("/api/stories/import", json=backup_of(*[{"title": "Same", "content": f"Tale {n}."} for n in range(250)]))
    assert imported.status_code == 201 and imported.get_json()["imported"] == 250
    titles = [s["title"] for s in imported.get_json()["stories"]]
    assert titles == [f"Same ({n})" for n in range(2, 252)]
    assert len(web.get("/api/stories").get_json()["stories"]) == 251


def test_an_import_that_fails_past_its_first_batch_leaves_nothing_behind(story_app, web):
    stories = [{"title": f"T{n}", "content": "Fine."} for n in range(250)]
    stories[220]["content"] = 7
    refused = web.post("/api/stories/import", json=backup_of(*stories))
    assert refused.status_code == 400 and refused.get_json()["error"]["field"] == "stories[220].content"
    assert web.get("/api/stories").get_json()["stories"] == []
    assert query(story_app, "SELECT count(*) FROM stories")[0][0] == 0
    assert query(story_app, "SELECT count(*) FROM imports")[0][0] == 0


def test_what_an_abandoned_import_staged_is_deleted_by_the_next_import(story_app, web):
    with story_app.app_context(), connection(story_app) as conn:
        import_id = library.begin_import(conn, 1)
        conn.execute("UPDATE imports SET started_at = started_at - 7200 WHERE id = ?", (import_id,))
    with connection(story_app) as conn:
        conn.execute("BEGIN IMMEDIATE")
        library.stage(conn, 1, import_id, [({"title": "Left over", "premise": "", "content": "x",
                                             "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}, None)])
        conn.execute("COMMIT")
    assert web.get("/api/stories").get_json()["stories"] == []  # staged: hidden
    web.post("/api/stories/import", json=backup_of({"title": "New", "content": "y"}))
    assert [title for (title,) in query(story_app, "SELECT title FROM stories")] == ["New"]


def test_the_backup_streams_and_imports_again_with_its_versions(story_app, web):
    versions = ["first ending", "second ending", "third ending"]
    web.post("/api/stories/import", json=backup_of(
        {"title": "With versions", "content": "Start. second ending", "memory": "Mira", "settings": {"temperature": 0.7},
         "alternatives": {"start": 7, "versions": versions, "chosen": 1}, "created_at": "2026-01-02T03:04:05Z"}))
    new_story(web, title="Plain", content="Just text. 😀")
    response = web.get("/api/stories/backup")
    assert response.is_streamed and "attachment" in response.headers["Content-Disposition"]
    backup = json.loads(response.get_data())
    assert [s["title"] for s in backup["stories"]] == ["With versions", "Plain"]
    assert backup["stories"][0]["alternatives"] == {"start": 7, "versions": versions, "chosen": 1}
    again = web.post("/api/stories/import", json=backup)
    assert again.status_code == 201 and [s["title"] for s in again.get_json()["stories"]] == [
        "With versions (2)", "Plain (2)"]
    copy = web.get(f"/api/stories/{again.get_json()['stories'][0]['id']}").get_json()
    assert copy["content"] == "Start. second ending" and copy["alternatives"] == {"start": 7, "chosen": 1, "count": 3}
    assert copy["memory"] == "Mira" and copy["settings"] == {"temperature": 0.7} and copy["created_at"] == "2026-01-02T03:04:05Z"


def test_an_imported_time_stamp_is_matched_whole(story_app, web):
    imported = web.post("/api/stories/import", json=backup_of(
        {"title": "A", "content": "x", "created_at": "2026-01-02T03:04:05Z\n"},
        {"title": "B", "content": "y", "created_at": "2026-01-02T03:04:05Z"}))
    first, second = (web.get(f"/api/stories/{s['id']}").get_json() for s in imported.get_json()["stories"])
    assert first["created_at"] != "2026-01-02T03:04:05Z\n" and not first["created_at"].startswith("2026-01-02T03")
    assert second["created_at"] == "2026-01-02T03:04:05Z"


SURROGATE = '"a\\ud800b"'
BAD_BODIES = {
    "a lone surrogate in the title": '{"premise": "p", "title": ' + SURROGATE + '}',
    "a lone surrogate in the memory": '{"premise": "p", "memory": ' + SURROGATE + '}',
    "a lone surrogate in the author's note": '{"premise": "p", "authors_note": "\\udc00"}',
    "a lone surrogate in a key": '{"premise": "p", "settings": {"\\ud800": 1}}',
    "JSON nested 50,000 deep": '{"premise": "p", "settings": {"a": ' + "[" * 50_000 + "]" * 50_000 + "}}",
    "NaN in the settings": '{"premise": "p", "settings": {"temperature": NaN}}',
    "Infinity in the settings": '{"premise": "p", "settings": {"top_p": -Infinity}}',
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_in_a_story_body_is_a_400_and_nothing_is_stored(story_app, web, body):
    refused = web.post("/api/stories", data=body, content_type="application/json")
    assert refused.status_code == 400, refused.get_data(as_text=True)
    error = refused.get_json()["error"]
    assert error["code"] in ("invalid_json", "invalid_text") and error["message"]
    if "surrogate" in error["message"]:
        assert "\\ud800" in error["message"] or "\\udc00" in error["message"]
    assert query(story_app, "SELECT count(*) FROM stories")[0][0] == 0


def test_an_emoji_sent_as_a_surrogate_pair_escape_is_kept(story_app, web):
    saved = web.post("/api/stories", data='{"premise": "p", "title": "a\\ud83d\\ude00b"}', content_type="application/json")
    assert saved.status_code == 201 and saved.get_json()["title"] == "a😀b"


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_in_a_proxy_body_is_a_400_in_openais_shape(web, body):
    refused = web.post("/proxy/llm/v1/chat/completions", content_type="application/json",
                       data=body.replace('"premise": "p"', '"messages": [{"role": "user", "content": "hi"}]'))
    assert refused.status_code == 400
    assert refused.get_json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("raw, message", [
    ('{"format": "taleweaver-library", "version": 1, "stories": [{"title": "a\\udc00"}]}', "lone UTF-16 surrogate"),
    ('{"format": "taleweaver-library", "version": 1, "stories": [{"title": "x", "settings": {"t": NaN}}]}', "not valid JSON"),
    ('{"format": "taleweaver-library", "version": 1, "stories": [' + "[" * 50_000 + "]" * 50_000 + "]}", "nested more than"),
    ('{"format": "taleweaver-library", "version": 1, "stories": 5}', "stories must be a list"),
])
def test_bad_input_in_an_import_is_a_400_and_nothing_is_imported(story_app, web, raw, message):
    refused = web.post("/api/stories/import", data=raw, content_type="application/json")
    assert refused.status_code == 400 and message in refused.get_json()["error"]["message"]
    assert query(story_app, "SELECT count(*) FROM stories")[0][0] == 0


def test_a_story_longer_than_a_save_takes_is_backed_up_and_imported_again(story_app, web):
    # A generation may have written past the 500,000 characters a save takes: its story is in the
    # backup as it was kept, and the backup imports again (all or nothing would lose the library).
    story = new_story(web, content="Short.")
    with connection(story_app) as conn:
        conn.execute("UPDATE stories SET content = ? WHERE id = ?", ("x " * 300_000, story["id"]))
    backup = json.loads(web.get("/api/stories/backup").get_data())
    again = web.post("/api/stories/import", json=backup)
    assert again.status_code == 201, again.get_json()
    copy = web.get(f"/api/stories/{again.get_json()['stories'][0]['id']}").get_json()
    assert copy["content"] == "x " * 300_000
