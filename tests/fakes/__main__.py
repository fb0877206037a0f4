"""python -m tests.fakes {ollama|lmstudio|chatgpt|openai_compatible} [--host H] [--port N] ...

Prints one line ``fake <kind> listening on <url>`` and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import DEFAULT_PORTS, DEFAULT_REPLY, KINDS, FakeLLMServer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.fakes",
        description="Serve a fake Ollama, LM Studio, ChatGPT (OpenAI) or llama.cpp-style OpenAI-compatible API on a loopback address.",
    )
    ap.add_argument("kind", choices=KINDS)
    ap.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=None,
                    help="port (default: ollama 11434, lmstudio 1234, chatgpt 8089, openai_compatible 8080; 0 = any free)")
    ap.add_argument("--api-key", default=None, help="chatgpt, openai_compatible: require 'Authorization: Bearer KEY'")
    ap.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    ap.add_argument("--reply", default=DEFAULT_REPLY, help="the text the fake model writes")
    ap.add_argument("--models", default=None, help="comma-separated model names")
    ap.add_argument("--server", default=None, choices=("llama.cpp", "vllm", "koboldcpp"),
                    help="openai_compatible: the kind of server (default llama.cpp)")
    ap.add_argument("--version", default=None, help="ollama: what /api/version says (logprobs from 0.12.11 on)")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = ap.parse_args(argv)

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    port = DEFAULT_PORTS[args.kind] if args.port is None else args.port
    try:
        srv = FakeLLMServer(args.kind, host=args.host, port=port, models=models,
                            api_key=args.api_key, reply=args.reply,
                            chunk_delay=args.chunk_delay, verbose=args.verbose, server=args.server,
                            version=args.version)
        srv.start()
    except (ValueError, OSError) as e:
        print(f"fake {args.kind}: cannot listen on {args.host}:{port}: {e}", file=sys.stderr, flush=True)
        return 2

    done = threading.Event()

    def _on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    print(f"fake {args.kind} listening on {srv.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
