"""Another version of the backend, for benchmarks that measure before and after side by side."""
from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def backend_at(commit: str, folder: Path) -> Path:
    """The backend/ folder of a commit, extracted into `folder` (from git: no checkout)."""
    archive = folder / f"{commit}.tar"
    subprocess.run(["git", "archive", "-o", str(archive), commit, "backend"], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / commit, filter="data")
    return folder / commit / "backend"
