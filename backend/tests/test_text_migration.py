"""A database made by the code before texts were kept once (main at BEFORE_TEXTS_KEPT_ONCE, from
git) is migrated in place (007, 008) on SQLite and PostgreSQL alike: every story, revision (with
its text), version and undo step, the redo step after the current one included, is there after."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.test_upgrade_in_place import ROOT, backend_at

BEFORE_TEXTS_KEPT_ONCE = "f08ac4d"  # main when "Bounds" began: schema version 6

MAKE_OLD_DATABASE = """
import json
from app import create_app
app = create_app()
client = app.test_client()
story = client.post("/api/stories", json={"premise": "A fox", "content": "one"}).get_json()
for text in ("one two", "one two three", "one two three four"):
    story = client.patch(f"/api/stories/{story['id']}", json={"base_revision": story["revision"], "content": text}).get_json()
story = client.post(f"/api/stories/{story['id']}/undo", json={"base_revision": story["revision"]}).get_json()
client.post("/api/stories/import", json={"format": "taleweaver-library", "version": 1, "stories": [
    {"title": "Versions", "content": "Start. version two", "alternatives": {"start": 7, "versions": ["version one", "version two"], "chosen": 1}}]})
revisions = {s["id"]: [client.get(f"/api/stories/{s['id']}/revisions/{r['revision']}").get_json()
                       for r in client.get(f"/api/stories/{s['id']}/revisions").get_json()["revisions"]]
             for s in client.get("/api/stories").get_json()["stories"]}
print(json.dumps({"edited": story["id"], "revisions": revisions}))
"""


def run(backend: pathlib.Path, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"TALEWEAVER_DATABASE": str(backend / "instance" / "taleweaver.db"), "TALEWEAVER_WSL_FALLBACK": "0"})
    result = subprocess.run([sys.executable, "-c", code], cwd=backend, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def old_backend(tmp_path) -> pathlib.Path:
    return backend_at(BEFORE_TEXTS_KEPT_ONCE, tmp_path)


def test_every_revision_version_and_undo_step_survives_the_migration(old_backend, tmp_path):
    made = json.loads(run(old_backend, MAKE_OLD_DATABASE))
    new_backend = tmp_path / "new" / "backend"
    shutil.copytree(ROOT / "backend", new_backend, ignore=shutil.ignore_patterns("instance", "__pycache__"))
    shutil.copytree(old_backend / "instance", new_backend / "instance")
    story_id = made["edited"]
    after = json.loads(run(new_backend, f"""
import json
from app import create_app
client = create_app().test_client()
revisions = {{s["id"]: [client.get(f"/api/stories/{{s['id']}}/revisions/{{r['revision']}}").get_json()
                       for r in client.get(f"/api/stories/{{s['id']}}/revisions").get_json()["revisions"]]
             for s in client.get("/api/stories").get_json()["stories"]}}
walk = []
story = client.get("/api/stories/{story_id}").get_json()
while story["history"]["can_undo"]:
    story = client.post("/api/stories/{story_id}/undo", json={{"base_revision": story["revision"]}}).get_json()
    walk.append(story["content"])
while story["history"]["can_redo"]:
    story = client.post("/api/stories/{story_id}/redo", json={{"base_revision": story["revision"]}}).get_json()
    walk.append(story["content"])
versions = [s for s in client.get("/api/stories").get_json()["stories"] if s["title"] == "Versions"][0]
document = client.get(f"/api/stories/{{versions['id']}}").get_json()
chosen = client.post(f"/api/stories/{{versions['id']}}/alternatives", json={{"base_revision": document["revision"], "index": 0}})
print(json.dumps({{"revisions": revisions, "walk": walk, "alternatives": document["alternatives"],
                  "chosen": chosen.get_json()["content"],
                  "backup": client.get("/api/stories/backup").get_json()["stories"]}}))
"""))
    def fields(revisions: dict) -> dict:
        return {story: [{k: r[k] for k in ("revision", "created_at", "title", "premise", "content", "word_count", "reason")}
                        for r in value] for story, value in revisions.items()}

    kept, now = fields(made["revisions"]), fields(after["revisions"])
    # The walk below added revisions of its own (newest first); every old one is there as it was.
    assert {story: [r for r in now[story] if r["revision"] <= kept[story][0]["revision"]] for story in kept} == kept
    assert after["walk"] == ["one two", "one", "one two", "one two three", "one two three four"]
    assert after["alternatives"] == {"start": 7, "chosen": 1, "count": 2}
    assert after["chosen"] == "Start. version one"
    versions = [s for s in after["backup"] if s["title"] == "Versions"][0]["alternatives"]
    assert versions["versions"][:2] == ["version one", "version two"]
