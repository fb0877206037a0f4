"""Many streams at once: a burst of 1,000 streams opened together, through the proxy, straight
to the fake upstream, and through nginx alone (the relay reference); with --stories, the same
burst as story generations (each stream names a story of its own); and with --instances,
N users' streams spread over several instances on one PostgreSQL database behind nginx.
A benchmark, not a test: it prints figures next to targets and writes results/burst.*.

    .venv/bin/python bench/burst.py                     # the 1,000-stream burst, about 1 minute
    .venv/bin/python bench/burst.py --stories           # also 1,000 story generations at once
    .venv/bin/python bench/burst.py --stories --only-stories --results-dir /tmp/b   # that row alone
    .venv/bin/python bench/burst.py --instances 3 --users 20   # also 3 instances behind nginx

Loopback only; the streams are bounded (chunks x interval), and every phase has a time limit.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from clients import RssSampler, ServerProbe, iter_body, now_ns, parse_stream_line, read_head, sent_ns_of, summary  # noqa: E402
from run import MODEL, PROXY_CHAT, TEST_ONLY_ENV, Upstream, chat_body, machine  # noqa: E402
from tests import nginx  # noqa: E402
from tests.support import TaleweaverServer  # noqa: E402

TARGETS = {"failed": 0, "ttft_p99_over_direct_s": 0.5, "server_rss_mb": 500.0}
# The upstream starts every chunk's content with its send time, "<ns>;" (bench/upstream.py).
STAMP = re.compile(r"(?<![0-9])[0-9]{6,};")


def chunks_in(event: dict) -> int:
    """How many upstream chunks an event carries: one for a relayed chunk; a story generation's
    follower may send the text of several chunks in one event (counted by their send stamps)."""
    choices = event.get("choices") or [{}]
    content = (choices[0].get("delta") or {}).get("content") if isinstance(choices[0], dict) else None
    stamps = len(STAMP.findall(content)) if isinstance(content, str) else 0
    return stamps or (1 if sent_ns_of(event) is not None else 0)


def request_bytes(port: int, path: str, body: bytes, headers: dict | None = None) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def one_stream(port: int, request: bytes, chunks: int) -> dict:
    """Open, send, and read one stream to its end; time to first token is request → first content chunk."""
    started = now_ns()
    first, content, finished, error, writer = None, 0, False, None, None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        status, headers = await read_head(reader)
        if status != 200:
            error = f"HTTP {status}"
        else:
            buffer = b""
            async for piece in iter_body(reader, headers):
                *lines, buffer = (buffer + piece).split(b"\n")
                for line in lines:
                    event = parse_stream_line(line)
                    if event == "[DONE]":
                        finished = True
                    elif isinstance(event, dict):
                        if "error" in event:
                            error = json.dumps(event["error"])[:200]
                        elif n := chunks_in(event):
                            content += n
                            if first is None:
                                first = now_ns()
    except Exception as exc:  # noqa: BLE001 - every way a stream fails is counted
        error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        if writer is not None:
            writer.close()
    ok = finished and content == chunks and error is None
    if not ok and error is None:
        error = f"incomplete: {content} of {chunks} chunks"
    return {"ok": ok, "error": error, "ttft_s": (first - started) / 1e9 if first else None,
            "seconds": (now_ns() - started) / 1e9}


async def burst(targets: list[tuple[int, bytes]], chunks: int, limit: float) -> list[dict]:
    """One stream per (port, request), all started at once."""
    tasks = [asyncio.create_task(one_stream(port, request, chunks)) for port, request in targets]
    done, pending = await asyncio.wait(tasks, timeout=limit)
    for task in pending:
        task.cancel()
    return [task.result() for task in done] + [{"ok": False, "error": "time limit", "ttft_s": None, "seconds": limit}
                                                for _ in pending]


def tally(outcomes: list[dict]) -> dict:
    errors: dict[str, int] = {}
    for outcome in outcomes:
        if outcome["error"]:
            errors[outcome["error"]] = errors.get(outcome["error"], 0) + 1
    ttft = [o["ttft_s"] * 1000 for o in outcomes if o["ttft_s"] is not None]
    return {
        "streams": len(outcomes), "failed": sum(not o["ok"] for o in outcomes),
        "ttft_ms": summary(ttft), "stream_seconds": summary([o["seconds"] * 1000 for o in outcomes]),
        "errors": dict(sorted(errors.items(), key=lambda item: -item[1])[:5]),
    }


def measured(name: str, targets, chunks: int, limit: float, probes=(), warm_up: bool = True) -> dict:
    print(f"==> {name}: {len(targets)} streams", flush=True)
    if warm_up:
        asyncio.run(burst(targets[:20], chunks, limit))  # warm-up: connections, caches, the upstream's loop
    samplers = [RssSampler(probe) for probe in probes]
    cpu = [probe.cpu_seconds() for probe in probes]
    for sampler in samplers:
        sampler.__enter__()
    try:
        outcomes = asyncio.run(burst(targets, chunks, limit))
    finally:
        for sampler in samplers:
            sampler.__exit__(None, None, None)
    result = tally(outcomes)
    if probes:
        # The instances' peaks are summed: the worst case of them all peaking together.
        result["server_rss_peak_mb"] = sum(s.report()["peak_mb"] for s in samplers)
        result["server_rss_start_mb"] = sum(s.report()["start_mb"] for s in samplers)
        result["server_cpu_seconds"] = sum(p.cpu_seconds() - c for p, c in zip(probes, cpu))
    print(f"    failed {result['failed']}, TTFT p50 {result['ttft_ms']['p50']:.0f} ms, "
          f"p99 {result['ttft_ms']['p99']:.0f} ms, max {result['ttft_ms']['max']:.0f} ms"
          + (f", server RSS peak {result['server_rss_peak_mb']:.0f} MB, CPU {result['server_cpu_seconds']:.1f} s"
             if probes else ""), flush=True)
    if result["errors"]:
        print(f"    errors: {result['errors']}", flush=True)
    time.sleep(1.0)
    return result


def start_server(env: dict | None = None, database_url: str | None = None) -> TaleweaverServer:
    """The real server with ./run.sh's gunicorn settings (the tests' overrides taken out)."""
    server = TaleweaverServer(env=env, database_url=database_url)
    for name in TEST_ONLY_ENV:
        server.env.pop(name, None)
    if not database_url:
        for name in ("TALEWEAVER_DATABASE_URL", "TALEWEAVER_SECRET_KEYS"):
            server.env.pop(name, None)
    server.env.update(env or {})
    return server.start()


def story_generations(server: TaleweaverServer, script: dict, streams: int, chunks: int, limit: float) -> dict:
    """The burst as story generations: each stream is a chat completion naming a story of its
    own (created first, not timed), followed over SSE as the Story page does."""
    session = requests.Session()
    story_ids = [session.post(server.url + "/api/stories", json={"premise": f"A tale {number}"}, timeout=30).json()["id"]
                 for number in range(streams + 20)]  # 20 more for the warm-up

    def target(story_id: int) -> tuple[int, bytes]:
        body = json.dumps({"model": MODEL, "stream": True, "taleweaver": {"story_id": story_id},
                           "messages": [{"role": "user", "content": json.dumps(script)}]}).encode()
        return server.port, request_bytes(server.port, PROXY_CHAT, body)

    asyncio.run(burst([target(story_id) for story_id in story_ids[streams:]], chunks, limit))  # warm-up
    time.sleep(1.0)
    return measured("story generations through the proxy (one instance)",
                    [target(story_id) for story_id in story_ids[:streams]], chunks, limit,
                    [ServerProbe(server.process.pid)], warm_up=False)


def many_instances(args, upstream, body: bytes, chunks: int, limit: float) -> dict:
    """U users' streams spread over N instances on one PostgreSQL database, through nginx."""
    from tests.postgres_cluster import PostgresCluster
    from tests.support import GUNICORN, new_postgres_database
    import subprocess
    import tests.support

    with PostgresCluster() as cluster:
        tests.support.TEST_DATABASE_URL = cluster.url
        database = new_postgres_database()
        # Each user's streams at once are within the per-user cap: the leases are counted, none refused.
        env = {"TALEWEAVER_AUTH_MODE": "multi", "TALEWEAVER_SECRET_KEYS": tests.support.TEST_SECRET_KEYS,
               "TALEWEAVER_USER_STREAMS": str(-(-args.streams // args.users))}
        instances = [start_server(env, database) for _ in range(args.instances)]
        proxy = nginx.Nginx([server.port for server in instances]).start()
        try:
            tokens = []
            for number in range(args.users):
                name = f"writer{number}"
                subprocess.run([str(GUNICORN.with_name("flask")), "--app", "app", "create-user", name,
                                "--password", "bench-password"], cwd=str(ROOT / "backend"),
                               env=instances[0].env, check=True, capture_output=True)
                token = requests.post(proxy.url + "/api/auth/login", timeout=30,
                                      json={"username": name, "password": "bench-password"}).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                saved = requests.post(proxy.url + "/api/settings/llm", headers=headers, timeout=30, json={
                    "backend_type": "lmstudio", "config": {"url": upstream.url}, "default_model": MODEL})
                saved.raise_for_status()
                tokens.append(headers)
            targets = [(proxy.port, request_bytes(proxy.port, PROXY_CHAT, body, tokens[i % len(tokens)]))
                       for i in range(args.streams)]
            probes = [ServerProbe(server.process.pid) for server in instances]
            result = measured(f"{args.users} users over {args.instances} instances behind nginx (PostgreSQL)",
                              targets, chunks, limit, probes)
            result.update({"instances": args.instances, "users": args.users})
            return result
        finally:
            proxy.stop()
            for server in instances:
                server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--interval-ms", type=float, default=250.0)
    parser.add_argument("--instances", type=int, default=0, help="also N instances on PostgreSQL behind nginx")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--worker-class", default=None, help="gthread to compare with threads")
    parser.add_argument("--stories", action="store_true", help="also the burst as story generations")
    parser.add_argument("--only-stories", action="store_true",
                        help="with --stories: skip nginx alone and the plain proxy (direct stays, as the reference)")
    parser.add_argument("--name", default="burst")
    parser.add_argument("--results-dir", default=str(BENCH / "results"), help="where NAME.json and NAME.md go")
    args = parser.parse_args()
    chunks = args.chunks
    limit = chunks * args.interval_ms / 1000 + 120
    script = {"chunks": chunks, "interval_ms": args.interval_ms, "chunk_bytes": 16}
    body = chat_body("lmstudio", direct=False, stream=True, script=script)
    info = machine()
    results: dict = {"settings": vars(args), "machine": info}
    env = {"TALEWEAVER_WORKER_CLASS": args.worker_class} if args.worker_class else None
    with Upstream() as upstream:
        results["direct"] = measured("straight to the fake upstream",
                                     [(upstream.port, request_bytes(upstream.port, "/v1/chat/completions", body))] * args.streams,
                                     chunks, limit)
        if not args.only_stories:
            relay = nginx.Nginx([upstream.port]).start()
            try:
                results["nginx_alone"] = measured(
                    "through nginx alone (relay reference)",
                    [(relay.port, request_bytes(relay.port, "/v1/chat/completions", body))] * args.streams,
                    chunks, limit)
            finally:
                relay.stop()
            server = start_server(env)
            try:
                server.configure("lmstudio", {"url": upstream.url}, MODEL)
                requests.post(server.url + PROXY_CHAT, data=body, headers={"Content-Type": "application/json"}, timeout=60)
                results["proxied"] = measured(
                    "through the proxy (one instance, backend/gunicorn.conf.py)",
                    [(server.port, request_bytes(server.port, PROXY_CHAT, body))] * args.streams, chunks, limit,
                    [ServerProbe(server.process.pid)])
                results["proxied"]["worker_class"] = args.worker_class or "gevent (gunicorn.conf.py default)"
            finally:
                server.close()
        if args.stories:
            # A server of its own: the plain burst's greenlets and heaps do not weigh on this row.
            server = start_server(env)
            try:
                server.configure("lmstudio", {"url": upstream.url}, MODEL)
                results["stories"] = story_generations(server, script, args.streams, chunks, limit)
                results["stories"]["worker_class"] = args.worker_class or "gevent (gunicorn.conf.py default)"
            finally:
                server.close()
        if args.instances:
            results["many_instances"] = many_instances(args, upstream, body, chunks, limit)
    direct_p99 = results["direct"]["ttft_ms"]["p99"]
    results["targets"] = []
    for key, label in (("proxied", ""), ("stories", "story generations: ")):
        if key not in results:
            continue
        row = results[key]
        over = (row["ttft_ms"]["p99"] - direct_p99) / 1000
        results["targets"] += [
            {"name": f"{label}failed streams", "measured": row["failed"], "target": "0", "pass": row["failed"] == 0},
            {"name": f"{label}TTFT p99 over direct, s", "measured": over, "target": "≤ 0.5 s", "pass": over <= 0.5},
            {"name": f"{label}server memory peak, MB", "measured": row["server_rss_peak_mb"], "target": "< 500 MB",
             "pass": row["server_rss_peak_mb"] < 500},
        ]
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    m, s = results["machine"], results["settings"]
    lines = [
        f"Burst of {s['streams']} streams ({s['chunks']} chunks every {s['interval_ms']:g} ms each), "
        f"{m['date']} at {m['revision']}: {m['cpu_model']}, {m['logical_cores']} cores, load average at start "
        f"{m['load_average_at_start'][0]}.", "",
        "| path | streams | failed | TTFT p50, ms | p90 | p99 | max | server RSS peak, MB | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    labels = {"direct": "straight to the fake upstream", "nginx_alone": "nginx alone (relay reference)",
              "proxied": "through the proxy, one instance",
              "stories": "story generations through the proxy, one instance",
              "many_instances": "users over instances behind nginx"}
    for key, label in labels.items():
        row = results.get(key)
        if not row:
            continue
        if key == "many_instances":
            label = f"{row['users']} users over {row['instances']} instances behind nginx (PostgreSQL)"
        t = row["ttft_ms"]
        rss = f"{row['server_rss_peak_mb']:.0f}" if "server_rss_peak_mb" in row else ""
        lines.append(f"| {label} | {row['streams']} | {row['failed']} | {t['p50']:.0f} | {t['p90']:.0f} | "
                     f"{t['p99']:.0f} | {t['max']:.0f} | {rss} | {'; '.join(f'{k} ×{v}' for k, v in row['errors'].items())} |")
    lines += ["", "| target | measured | target | |", "|---|---:|---:|---|"]
    for row in results["targets"]:
        lines.append(f"| {row['name']} | {row['measured']:.2f} | {row['target']} | {'pass' if row['pass'] else '**MISS**'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
