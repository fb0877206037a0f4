"""One benchmark, run by another version of the project (where this branch left main, unless
--before names a commit; its backend/, bench/, tests/ and deploy/ taken from git) and by this
tree, alternating round by round so that the machine's drift hits both alike, with the figures
side by side. A benchmark, not a test.

    .venv/bin/python bench/before_after.py --rounds 3 burst.py --stories --only-stories
    .venv/bin/python bench/before_after.py --rounds 3 run.py --quick

The benchmark's own options follow its name. Each version runs its own copy of the benchmark
against its own backend; the figures of each run (burst.py's rows, run.py's targets) and the
table go to results/before_after/.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import versions  # noqa: E402

GIT_DIR = subprocess.run(["git", "rev-parse", "--absolute-git-dir"], cwd=BENCH, check=True,
                         capture_output=True, text=True).stdout.strip()
BURST_ROWS = ("direct", "proxied", "stories", "many_instances")


def figures(script: str, result: dict) -> dict:
    """The figures of one run worth putting side by side."""
    if script == "run.py":
        return {target["name"]: target["measured"] for target in result["targets"]}
    out = {}
    for row in BURST_ROWS:
        if row in result:
            measured = result[row]
            out[f"{row}: failed"] = measured["failed"]
            out[f"{row}: TTFT p50, ms"] = measured["ttft_ms"]["p50"]
            out[f"{row}: TTFT p99, ms"] = measured["ttft_ms"]["p99"]
            if "server_cpu_seconds" in measured:
                out[f"{row}: server CPU, s"] = measured["server_cpu_seconds"]
                out[f"{row}: server RSS peak, MB"] = measured["server_rss_peak_mb"]
    return out


def run_once(root: Path, script: str, options: list[str], folder: str) -> dict:
    """One run of the version's own benchmark; its results."""
    command = [sys.executable, str(root / "bench" / script), *options]
    if script == "burst.py":
        command += ["--name", "before-after", "--results-dir", folder]
        written = Path(folder) / "before-after.json"
    else:  # run.py names its results itself
        written = root / "bench" / "results" / ("quick.json" if "--quick" in options else "latest.json")
    # The "before" copy is extracted from git without its repository; a benchmark there that asks
    # git for an older version of itself (completions.py's before_backend) asks this repository.
    env = {**os.environ, "GIT_DIR": GIT_DIR}
    subprocess.run(command, cwd=root, check=True, env=env)
    return json.loads(written.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="the commit to measure against (default: where this branch left main)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("script", choices=("run.py", "burst.py"))
    parser.add_argument("options", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    commit = versions.commit_of(args.before)
    runs = []
    with tempfile.TemporaryDirectory(prefix="taleweaver-before-after-") as folder:
        roots = {"before": versions.tree_at(commit, Path(folder), ("backend", "bench", "tests", "deploy")), "after": BENCH.parent}
        for number in range(args.rounds):
            for arm in (("before", "after") if number % 2 == 0 else ("after", "before")):
                runs.append({"round": number + 1, "arm": arm,
                             "figures": figures(args.script, run_once(roots[arm], args.script, args.options, folder))})
                print(json.dumps(runs[-1]), flush=True)
    summary = {"script": args.script, "options": args.options, "before": commit,
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs}
    out = BENCH / "results" / "before_after"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(args.script).stem}{'-quick' if '--quick' in args.options else ''}{'-stories' if '--stories' in args.options else ''}"
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(side_by_side(runs))
    return 0


def side_by_side(runs: list[dict]) -> str:
    """A table: each figure, its values before and after, round by round."""
    names = list(dict.fromkeys(name for run in runs for name in run["figures"]))
    lines = ["| figure | before | after |", "|---|---|---|"]
    for name in names:
        cells = {arm: ", ".join(f"{run['figures'][name]:.2f}" if isinstance(run["figures"].get(name), float)
                                else str(run["figures"].get(name)) for run in runs if run["arm"] == arm)
                 for arm in ("before", "after")}
        lines.append(f"| {name} | {cells['before']} | {cells['after']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
