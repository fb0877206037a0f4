"""One benchmark, run against another version of the backend (main unless --before names a
commit; taken from git) and this tree, alternating round by round so that the machine's drift hits
both alike, with the figures side by side. A benchmark, not a test.

    .venv/bin/python bench/before_after.py --rounds 3 burst.py --stories --only-stories
    .venv/bin/python bench/before_after.py --rounds 3 run.py --quick

The benchmark's own options follow its name; each run writes NAME.json (burst.py's rows, or
run.py's targets) into a folder of this run, and the summary goes to results/before_after/.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from versions import backend_at  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="main", help="the commit to measure against (default: main)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("script", choices=("run.py", "burst.py"))
    parser.add_argument("options", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", args.before], cwd=BENCH, check=True,
                            capture_output=True, text=True).stdout.strip()
    runs = []
    with tempfile.TemporaryDirectory(prefix="taleweaver-before-after-") as folder:
        arms = {"before": ["--backend", str(backend_at(commit, Path(folder)))], "after": []}
        for number in range(args.rounds):
            for arm in (("before", "after") if number % 2 == 0 else ("after", "before")):
                name = f"{arm}-{number + 1}"
                subprocess.run([sys.executable, str(BENCH / args.script), *args.options, *arms[arm],
                                "--name", name, "--results-dir", folder], check=True)
                result = json.loads((Path(folder) / f"{name}.json").read_text())
                runs.append({"round": number + 1, "arm": arm, "figures": figures(args.script, result)})
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
