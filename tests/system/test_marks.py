"""Who wrote what, through the real server (gunicorn, 2 workers) and a fake backend on loopback:
the server marks what a generation wrote (continue, insert, an accepted rewrite); the page's
marks are saved with the text; they come back with an undo and a restored revision, go into the
backup and come out of its import, and never into the Markdown or text export."""
from __future__ import annotations

import functools

import pytest

from tests import support
from tests.support import configure_fake

OPENING = "Mira counted to ten. "
WRITTEN = "Snow fell on the mill."

new_story = functools.partial(support.new_story, premise="A fox who counts")


story = support.story_of


def act(server, story_id: int, **extension) -> dict:
    response = server.api("POST", "/proxy/llm/v1/chat/completions",
                          json={"taleweaver": {"story_id": story_id, **extension}})
    assert response.status_code == 200, response.text
    return story(server, story_id)


@pytest.fixture
def lmstudio(server, fake_factory):
    fake = fake_factory("lmstudio", reply=WRITTEN)
    configure_fake(server, fake, default_model=fake.models[0])
    return fake


def test_the_model_text_is_marked_and_the_writers_edit_and_undo_keep_the_marks_right(server, lmstudio):
    tale = new_story(server, content=OPENING + "🦊 ")
    continued = act(server, tale["id"], action="continue")
    assert continued["content"] == OPENING + "🦊 " + WRITTEN
    model = [len(OPENING) + 2, len(continued["content"])]
    assert continued["marks"] == [model]

    inserted = act(server, tale["id"], action="insert", position=len(OPENING))
    assert inserted["content"] == OPENING + WRITTEN + "🦊 " + WRITTEN
    assert inserted["marks"] == [[len(OPENING), len(OPENING) + len(WRITTEN)],
                                 [model[0] + len(WRITTEN), model[1] + len(WRITTEN)]]

    # The writer changes "Snow" (in the second passage) to "Hail": the page sends the marks without those characters.
    at = inserted["content"].rindex("Snow")
    edited_marks = [m for m in (inserted["marks"][0], [inserted["marks"][1][0], at], [at + 4, inserted["marks"][1][1]])
                    if m[0] < m[1]]
    edited = server.api("PATCH", f"/api/stories/{tale['id']}", json={
        "base_revision": inserted["revision"], "content": inserted["content"][:at] + "Hail" + inserted["content"][at + 4:],
        "marks": edited_marks}).json()
    assert edited["marks"] == edited_marks and len(edited_marks) == 2
    assert story(server, tale["id"])["marks"] == edited["marks"]  # kept on the server

    undone = server.api("POST", f"/api/stories/{tale['id']}/undo", json={"base_revision": edited["revision"]}).json()
    assert undone["content"] == inserted["content"] and undone["marks"] == inserted["marks"]
    restored = server.api("POST", f"/api/stories/{tale['id']}/revisions/1/restore",
                          json={"base_revision": undone["revision"]}).json()
    assert restored["content"] == OPENING + "🦊 " and restored["marks"] == []


def test_marks_go_into_the_backup_and_its_import_but_never_into_an_export(server, lmstudio):
    tale = new_story(server, content=OPENING)
    marked = act(server, tale["id"], action="continue")
    for export in ("markdown", "text"):
        body = server.api("GET", f"/api/stories/{tale['id']}/export?format={export}").text
        assert WRITTEN in body and "marks" not in body and str(len(OPENING)) not in body
    backup = server.api("GET", "/api/stories/backup").json()
    entry = next(s for s in backup["stories"] if s["content"] == marked["content"])
    assert entry["marks"] == marked["marks"] == [[len(OPENING), len(OPENING) + len(WRITTEN)]]
    imported = server.api("POST", "/api/stories/import", json={**backup, "stories": [entry]}).json()
    assert story(server, imported["stories"][0]["id"])["marks"] == marked["marks"]
    bad = server.api("POST", "/api/stories/import", json={**backup, "stories": [{**entry, "marks": [[5, 2]]}]})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "stories[0].marks"


def test_an_accepted_rewrite_is_marked_in_place_of_the_selection(server, lmstudio):
    tale = new_story(server, content=OPENING + "The door opened. The end.")
    start, stop = len(OPENING), len(OPENING + "The door opened.")
    act(server, tale["id"], action="rewrite", start=start, stop=stop, instruction="More vivid")
    current = story(server, tale["id"])
    accepted = server.api("POST", f"/api/stories/{tale['id']}/proposal/accept",
                          json={"base_revision": current["revision"], "index": 1}).json()
    assert accepted["content"] == OPENING + WRITTEN + " The end."
    assert accepted["marks"] == [[start, start + len(WRITTEN)]]


def test_bad_marks_are_refused_and_nothing_is_saved(server):
    tale = new_story(server, content=OPENING)
    for marks in ([[0, 999]], [[3, 3]], [[1]], "all", [[True, 2]]):
        response = server.api("PATCH", f"/api/stories/{tale['id']}", json={"base_revision": tale["revision"],
                                                                          "content": OPENING + "x", "marks": marks})
        assert response.status_code == 400 and response.json()["error"]["field"] == "marks", marks
    assert story(server, tale["id"])["content"] == OPENING
