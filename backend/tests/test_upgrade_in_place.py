"""An install made before the backend became one package keeps working after the move: its
backend/instance/ database and generated secret.key are found where they were, the database is
migrated in place by `flask --app app init-db` (what ./run.sh runs), and its stored API key and
stories read back. The old install is made by the code of the last commit before the move, taken
from git."""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

BACKEND = pathlib.Path(__file__).resolve().parents[1]
ROOT = BACKEND.parent
BEFORE_THE_MOVE = "80cdd60"  # main before backend/taleweaver/ existed
FLASK = pathlib.Path(sys.executable).with_name("flask")
KEY = "sk-proj-Upgrade0123456789abcdefXYZ"

MAKE_OLD_INSTALL = f"""
from app import create_app
app = create_app()
client = app.test_client()
saved = client.post("/api/settings/llm", json={{"backend_type": "chatgpt", "config": {{"api_key": "{KEY}"}},
                    "default_model": "gpt-4o-mini"}})
assert saved.status_code == 200, saved.get_data(as_text=True)
story = client.post("/api/stories", json={{"premise": "A lighthouse keeper finds a letter", "content": "It was raining."}})
assert story.status_code == 201, story.get_data(as_text=True)
print(app.instance_path)
"""

READ_NEW_INSTALL = """
import json
from app import create_app
from taleweaver.settings import store
app = create_app()
client = app.test_client()
with app.app_context():
    row = store.active_row(1)
    api_key = store.service_options(row["backend_type"], row["config"])["api_key"]
print(json.dumps({
    "instance": app.instance_path,
    "settings": client.get("/api/settings/llm").get_json(),
    "stories": client.get("/api/stories").get_json()["stories"],
    "api_key": api_key,
}))
"""


def clean_env() -> dict:
    """No TALEWEAVER_* from the test run: each install uses its own default instance folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALEWEAVER_")}
    env["TALEWEAVER_WSL_FALLBACK"] = "0"
    return env


def run_python(cwd: pathlib.Path, code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=clean_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def backend_at(commit: str, folder: pathlib.Path) -> pathlib.Path:
    """backend/ as it was at that commit, from git, in `folder`."""
    archive = folder / "old.tar"
    made = subprocess.run(["git", "archive", "-o", str(archive), commit, "backend"], cwd=ROOT,
                          capture_output=True, text=True)
    assert made.returncode == 0, f"needs the git history of {commit}: {made.stderr}"
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "old", filter="data")
    return folder / "old" / "backend"


@pytest.fixture
def old_backend(tmp_path) -> pathlib.Path:
    """backend/ as it was before the move, from git."""
    return backend_at(BEFORE_THE_MOVE, tmp_path)


@pytest.mark.sqlite_only
def test_an_install_from_before_the_move_keeps_its_database_key_and_stories(old_backend, tmp_path):
    old_instance = pathlib.Path(run_python(old_backend, MAKE_OLD_INSTALL))
    assert old_instance == old_backend / "instance"
    assert {"taleweaver.db", "secret.key"} <= {p.name for p in old_instance.iterdir()}

    # The new code in the old install's place: the same backend/ folder, its instance/ kept.
    new_backend = tmp_path / "new" / "backend"
    shutil.copytree(BACKEND, new_backend, ignore=shutil.ignore_patterns("instance", "tests", "__pycache__"))
    shutil.copytree(old_instance, new_backend / "instance")

    migrated = subprocess.run([str(FLASK), "--app", "app", "init-db"], cwd=new_backend, env=clean_env(),
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert str(new_backend / "instance" / "taleweaver.db") in migrated.stdout

    found = json.loads(run_python(new_backend, READ_NEW_INSTALL))
    assert found["instance"] == str(new_backend / "instance")
    assert found["settings"]["backend_type"] == "chatgpt"
    assert found["settings"]["config"]["has_api_key"] is True
    assert found["settings"]["default_model"] == "gpt-4o-mini"
    assert found["api_key"] == KEY  # decrypted with the secret.key the old install generated
    assert [s["premise"] for s in found["stories"]] == ["A lighthouse keeper finds a letter"]
