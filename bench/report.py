"""The benchmark's outputs: targets met or missed, a markdown report, JSON and a PNG plot."""
from __future__ import annotations

import json
import math
from pathlib import Path

import completions

README_START = "<!-- results:start (bench/run.py rewrites this block after a full run) -->"
README_END = "<!-- results:end -->"


def _get(results: dict, *keys):
    """A nested figure, or None when its phase failed or did not run."""
    value = results
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def evaluate(results: dict, targets: dict) -> list[dict]:
    """Each target with what was measured and whether it was met (None: not measured)."""
    rows = []

    def add(name: str, measured, target: str, met) -> None:
        rows.append({"name": name, "measured": measured, "target": target,
                     "pass": None if measured is None else bool(met(measured))})

    for backend, label in (("lmstudio", "LM Studio"), ("ollama", "Ollama")):
        add(f"added latency p50, non-streamed ({label}), ms", _get(results, "latency", backend, "added_ms", "p50"),
            f"≤ {targets['added_p50_ms']:g} ms", lambda v: v <= targets["added_p50_ms"])
        add(f"added latency p99, non-streamed ({label}), ms", _get(results, "latency", backend, "added_ms", "p99"),
            f"≤ {targets['added_p99_ms']:g} ms", lambda v: v <= targets["added_p99_ms"])
        add(f"per-chunk delay p99, upstream → client through the proxy ({label}), ms",
            _get(results, "streaming", backend, "chunk_delay_ms", "proxied", "p99"),
            f"≤ {targets['chunk_delay_p99_ms']:g} ms", lambda v: v <= targets["chunk_delay_p99_ms"])
    streams = str(targets["streams"])
    add(f"{streams} concurrent streams: failed", _get(results, "concurrency", "levels", streams, "failed"),
        "0", lambda v: v == 0)
    add(f"{streams} concurrent streams: server memory peak (master + workers RSS), MB",
        _get(results, "concurrency", "levels", streams, "server_rss_mb", "peak_mb"),
        f"< {targets['streams_rss_mb']:g} MB", lambda v: v < targets["streams_rss_mb"])
    models = _get(results, "throughput", "endpoints", "proxy_models")
    best = max((row["requests_per_second"] for row in models.values()), default=None) if models else None
    add("cached /proxy/llm/v1/models, best of 1/8/32 clients, requests/s", best,
        f"≥ {targets['models_rps']:g}/s", lambda v: v >= targets["models_rps"])
    add("server memory rise while streaming 10 MB (LM Studio), MB",
        _get(results, "big_stream", "lmstudio", "server_rss_mb", "growth_mb"),
        f"≤ {targets['big_stream_growth_mb']:g} MB (flat)", lambda v: v <= targets["big_stream_growth_mb"])
    add("spec §6.8: 100 sequential GET /proxy/llm/v1/models, s", _get(results, "spec_6_8", "seconds"),
        f"< {targets['spec_100_models_s']:g} s", lambda v: v < targets["spec_100_models_s"])
    return rows


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _verdict(passed) -> str:
    return {True: "pass", False: "**MISS**", None: "not measured"}[passed]


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Run {results['run']['mode']} of {m['date']} at {m['revision']}, {results['run']['seconds']:.0f} s: "
        f"{m['cpu_model']}, {m['logical_cores']} cores, Python {m['python']}, gunicorn "
        f"{m['packages']['gunicorn']} (backend/gunicorn.conf.py as ./run.sh uses it), loopback only.",
    ]
    during = m.get("during_run")
    if during:
        other = during["other_processes_cores"]
        lines.append(f"Other processes used {other:.2f} of {m['logical_cores']} cores on average during the run"
                     f" (steal {during['steal_cores']:.2f})" + (
                         ": **the machine was not quiet, so these figures are noisier than they should be**."
                         if other > 0.1 else "."))
    lines += [
        "",
        "| target | measured | target | |",
        "|---|---:|---:|---|",
    ]
    for row in results["targets"]:
        lines.append(f"| {row['name']} | {_fmt(row['measured'])} | {row['target']} | {_verdict(row['pass'])} |")

    for section in (_latency_rows, _streaming_rows, completions.table, _concurrency_rows, _throughput_rows,
                    _big_stream_rows):
        lines += section(results)
    return "\n".join(lines) + "\n"


def _latency_rows(results: dict) -> list[str]:
    """The non-streamed round trips of each backend's arms."""
    lines: list[str] = []
    lines += ["", "**Non-streamed chat completion, round trip in ms** (keep-alive connections, arms interleaved "
              "in rotating order; added = proxied − direct at each percentile)", "",
              "| backend | path | n | p50 | p90 | p99 | max |", "|---|---|---:|---:|---:|---:|---:|"]
    for backend, result in (results.get("latency") or {}).items():
        if "error" in result:
            lines.append(f"| {backend} | error: {result['error']} | | | | | |")
            continue
        for arm, label in (("direct", "upstream directly"), ("proxied", "through the proxy"),
                           ("empty_endpoint", "GET /api/health (empty Flask endpoint), for reference"),
                           ("direct_requests", "upstream directly with requests, for reference"),
                           ("direct_urllib3", "upstream directly with urllib3, for reference")):
            r = result[arm]
            lines.append(f"| {backend} | {label} | {r['n']} | {_fmt(r['p50'])} | {_fmt(r['p90'])} | "
                         f"{_fmt(r['p99'])} | {_fmt(r['max'])} |")
        a = result["added_ms"]
        lines.append(f"| {backend} | **added by the proxy** | | **{_fmt(a['p50'])}** | {_fmt(a['p90'])} | "
                     f"**{_fmt(a['p99'])}** | {_fmt(a['max'])} |")

    return lines


def _streaming_rows(results: dict) -> list[str]:
    """Time to first token and per-chunk delay, direct and proxied."""
    lines: list[str] = []
    lines += ["", "**Streaming, ms** (time to first token: request sent → first content chunk read; per-chunk delay: "
              "upstream's write → client's read, one stream)", "",
              "| backend | figure | direct p50 | direct p99 | proxied p50 | proxied p90 | proxied p99 | proxied max |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for backend, result in (results.get("streaming") or {}).items():
        if "error" in result:
            lines.append(f"| {backend} | error: {result['error']} | | | | | | |")
            continue
        for key, label in (("first_token_ms", "time to first token"),
                           ("chunk_delay_ms", f"per-chunk delay, {result['chunks']} chunks "
                                              f"every {result['interval_ms']:g} ms")):
            d, p = result[key]["direct"], result[key]["proxied"]
            lines.append(f"| {backend} | {label} | {_fmt(d['p50'])} | {_fmt(d['p99'])} | {_fmt(p['p50'])} | "
                         f"{_fmt(p['p90'])} | {_fmt(p['p99'])} | {_fmt(p['max'])} |")

    return lines


def _concurrency_rows(results: dict) -> list[str]:
    """Many streams at once."""
    lines: list[str] = []
    concurrency = results.get("concurrency") or {}
    if "error" in concurrency:
        lines += ["", f"**Concurrent streams**: error: {concurrency['error']}"]
    elif concurrency:
        lines += ["", f"**Concurrent streams** (LM Studio; each {concurrency['chunks_per_stream']} chunks every "
                      f"{concurrency['interval_ms']:g} ms, all opened at once; "
                      "memory = RSS of gunicorn master + workers)",
                  "", "| streams | completed | failed | RSS before, MB | RSS peak, MB | server CPU, s | "
                      "stream duration p50 / max, s | per-chunk delay p50 / p99, ms | same streams direct: "
                      "failed, delay p50 / p99, ms | errors |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for level in concurrency["levels"].values():
            rss, seconds, delay = level["server_rss_mb"], level["stream_seconds"], level["chunk_delay_ms"]
            direct = level["direct"]
            errors = "; ".join(f"{count}× {text}" for text, count in level["errors"].items()) or ""
            lines.append(f"| {level['streams']} | {level['completed']} | {level['failed']} | "
                         f"{_fmt(rss['start_mb'], 1)} | {_fmt(rss['peak_mb'], 1)} | {_fmt(level['server_cpu_seconds'])} | "
                         f"{_fmt(seconds['p50'])} / {_fmt(seconds['max'])} | {_fmt(delay['p50'])} / "
                         f"{_fmt(delay['p99'])} | {direct['failed']}, {_fmt(direct['chunk_delay_ms']['p50'])} / "
                         f"{_fmt(direct['chunk_delay_ms']['p99'])} | {errors} |")

    return lines


def _throughput_rows(results: dict) -> list[str]:
    """Requests per second of N clients."""
    lines: list[str] = []
    throughput = results.get("throughput") or {}
    if "error" in throughput:
        lines += ["", f"**Throughput**: error: {throughput['error']}"]
    elif throughput:
        clients = list(next(iter(throughput["endpoints"].values())))
        lines += ["", f"**Throughput, requests/s** ({throughput['seconds']:g} s per cell, N asyncio keep-alive "
                      "clients in one process; in brackets: server CPU µs per request)", "",
                  "| endpoint | " + " | ".join(f"{c} client{'s' if c != '1' else ''}" for c in clients) + " |",
                  "|---|" + "---:|" * len(clients)]
        labels = {"proxy_chat": "POST /proxy/llm/v1/chat/completions (non-streamed)",
                  "proxy_models": "GET /proxy/llm/v1/models (cached)",
                  "settings_status": "GET /api/settings/llm/status",
                  "empty_endpoint": "GET /api/health (empty Flask endpoint)",
                  "upstream_direct": "fake upstream directly (the client's ceiling)"}
        for name, row in throughput["endpoints"].items():
            cells = []
            for c in clients:
                cell = row[c]
                cpu = cell["server_cpu_us_per_request"]
                failed = f", {cell['failed']} failed" if cell["failed"] else ""
                cells.append(f"{_fmt(cell['requests_per_second'], 0)}" + (f" ({cpu:.0f} µs)" if cpu else "") + failed)
            lines.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")

    return lines


def _big_stream_rows(results: dict) -> list[str]:
    """One 10 MB answer's memory."""
    lines: list[str] = []
    big = results.get("big_stream") or {}
    if big:
        lines += ["", "**One 10 MB streamed answer** (1 KiB chunks, read as fast as they come; server RSS every 50 ms; "
                      "the non-streamed row is the same answer held whole, what buffering would look like)",
                  "", "| backend | MB/s | RSS start, MB | peak, MB | end, MB | rise, MB |",
                  "|---|---:|---:|---:|---:|---:|"]
        for backend, result in big.items():
            if "error" in result:
                lines.append(f"| {backend} | error: {result['error']} | | | | |")
                continue
            rss = result["server_rss_mb"]
            lines.append(f"| {backend} | {_fmt(result['mb_per_second'], 1)} | {_fmt(rss['start_mb'], 1)} | "
                         f"{_fmt(rss['peak_mb'], 1)} | {_fmt(rss['end_mb'], 1)} | {_fmt(rss['growth_mb'], 1)} |")
            reference = result.get("non_streamed_reference_rss_mb")
            if reference:
                lines.append(f"| {backend}, non-streamed (reference) | | {_fmt(reference['start_mb'], 1)} | "
                             f"{_fmt(reference['peak_mb'], 1)} | {_fmt(reference['end_mb'], 1)} | "
                             f"{_fmt(reference['growth_mb'], 1)} |")
    return lines

def plot(results: dict, samples: dict, path: Path) -> bool:
    """Latency CDFs, per-chunk delay, throughput and server memory in one PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot; `pip install -r requirements-dev.txt` adds it)")
        return False

    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    figure.suptitle(f"Taleweaver proxy benchmark — {results['machine']['date']}, {results['machine']['revision']}, "
                    f"{results['machine']['logical_cores']} cores")

    def cdf(ax, values, label, **style):
        ordered = sorted(values)
        if ordered:
            ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=label, **style)

    ax = axes[0][0]
    for backend, style in (("lmstudio", "-"), ("ollama", "--")):
        times = samples.get(f"latency_{backend}")
        if not times:
            continue
        cdf(ax, times["direct"], f"{backend}: upstream directly", linestyle=style, color="tab:blue")
        cdf(ax, times["proxied"], f"{backend}: through the proxy", linestyle=style, color="tab:red")
        if backend == "lmstudio":
            cdf(ax, times["empty_endpoint"], "GET /api/health (empty Flask)", linestyle=":", color="tab:gray")
    ax.set_xscale("log")
    ax.set_xlabel("round trip, ms (log)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Non-streamed chat completion: latency CDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    ax = axes[0][1]
    for backend, style in (("lmstudio", "-"), ("ollama", "--")):
        delays = samples.get(f"chunk_delay_{backend}")
        if not delays:
            continue
        cdf(ax, delays["direct"], f"{backend}: upstream directly", linestyle=style, color="tab:blue")
        cdf(ax, delays["proxied"], f"{backend}: through the proxy", linestyle=style, color="tab:red")
    ax.axvline(2.0, color="black", linewidth=0.8, linestyle=":", label="target p99 ≤ 2 ms")
    ax.set_xscale("log")
    ax.set_xlabel("upstream write → client read, ms (log)")
    ax.set_title("Streaming: per-chunk delay CDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    ax = axes[1][0]
    endpoints = _get(results, "throughput", "endpoints") or {}
    if endpoints:
        clients = list(next(iter(endpoints.values())))
        width = 0.8 / len(endpoints)
        # the upstream's own rate (the client's ceiling) would dwarf the rest: it is in the table
        endpoints = {name: row for name, row in endpoints.items() if name != "upstream_direct"}
        for index, (name, row) in enumerate(endpoints.items()):
            ax.bar([i + index * width for i in range(len(clients))],
                   [row[c]["requests_per_second"] for c in clients], width, label=name)
        ax.set_xticks([i + width * (len(endpoints) - 1) / 2 for i in range(len(clients))],
                      [f"{c} client{'s' if c != '1' else ''}" for c in clients])
        ax.axhline(1500, color="black", linewidth=0.8, linestyle=":", label="target for proxy_models")
        ax.set_ylabel("requests/s")
        ax.set_title("Throughput (keep-alive clients)")
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)

    ax = axes[1][1]
    for key, series in samples.items():
        if key.startswith("rss_"):
            label = key.replace("rss_streams_", "").replace("rss_big_", "10 MB stream, ")
            label = label + " concurrent streams" if label.isdigit() else label
            style = {"linestyle": ":"} if key.endswith("_non_streamed") else {}
            label = label.replace("_non_streamed", " non-streamed (buffered, reference)")
            ax.plot([t for t, _ in series], [rss / 2**20 for _, rss in series], label=label, **style)
    ax.axhline(300, color="black", linewidth=0.8, linestyle=":", label="300 MB limit")
    ax.set_xlabel("seconds")
    ax.set_ylabel("server RSS (master + workers), MB")
    ax.set_title("Server memory")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)

    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def rewrite_readme(readme: Path, table: str, image: str) -> None:
    """Put the table and plot of this run between the README's result markers."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table}\n![benchmark plot]({image})\n{README_END}{tail}")


def write(results: dict, samples: dict, directory: Path, name: str, readme: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    table = markdown(results)
    (directory / f"{name}.json").write_text(json.dumps(_without_nan(results), indent=2, allow_nan=False) + "\n")
    (directory / f"{name}.md").write_text(table)
    plotted = plot(results, samples, directory / f"{name}.png")
    print()
    print(table)
    print(f"written: {directory / name}.json, .md" + (", .png" if plotted else ""))
    if readme:
        rewrite_readme(directory.parent / "README.md", table, f"results/{name}.png")


def _without_nan(value):
    """NaN (a percentile of no samples) as null, which JSON has."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(item) for item in value]
    return value
