"""Another version of the project, for benchmarks that measure before and after side by side."""
from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tree_at(commit: str, folder: Path, parts: tuple[str, ...] = ("backend",)) -> Path:
    """The commit's tree (its `parts`: backend/, and bench/ and tests/ to run its own
    benchmarks), extracted into `folder` from git without a checkout; its root."""
    archive = folder / f"{commit}.tar"
    subprocess.run(["git", "archive", "-o", str(archive), commit, *parts], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / commit, filter="data")
    return folder / commit


def commit_of(name: str | None) -> str:
    """The short id of a commit name; None: where this branch left main (its merge base)."""
    command = ["git", "rev-parse", "--short", name] if name else ["git", "merge-base", "HEAD", "main"]
    commit = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    return commit[:7]
