"""Ingest benchmark: N generated feeds served on loopback, polled by `monitor poll --once`.

Measures in one run, against the same bytes:
  (a) bare feedparser.parse over every body, one process (the baseline);
  (b) a cold poll: every item new (fetch, parse on all cores, normalise, store);
  (c) a warm poll where every feed answers 304 Not Modified;
  (d) a warm poll sending no validators, bodies unchanged: must parse nothing.
Prints one JSON object; ratio_b_to_a is (b)'s item rate over (a)'s (goal >= 0.7).

Every feed is on 127.0.0.1, so per-host politeness (2 at once, 1 s apart) is lifted for the
benchmark: it would measure our own sleeping, not the pipeline.

    .venv/bin/python bench/ingest.py [--feeds 500] [--items 40] [--database-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import feedparser  # noqa: E402
from feedgen import realistic_feed  # noqa: E402


class BenchServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.etags = ['"' + hashlib.sha1(b).hexdigest() + '"' for b in bodies]
        self.send_validators = True
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: BenchServer

    def do_GET(self) -> None:  # noqa: N802
        try:
            n = int(self.path.rsplit("/", 1)[1].split(".")[0])
            body, etag = self.server.bodies[n], self.server.etags[n]
        except (ValueError, IndexError):
            self.send_error(404)
            return
        if self.server.send_validators and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.server.send_validators:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def run_monitor(args: list[str], env: dict[str, str]) -> tuple[dict, float, int]:
    """Run a monitor command; return its JSON, wall seconds and the main process's peak RSS (KiB)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"monitor {' '.join(args)} failed:\n{err}")
    return (json.loads(out) if out.lstrip().startswith("{") else {}), wall, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    bodies = [realistic_feed(n, args.items) for n in range(args.feeds)]
    total_items = args.feeds * args.items

    # (a) the baseline: bare feedparser, one process, same bytes.
    started = time.perf_counter()
    parsed = sum(len(feedparser.parse(b).entries) for b in bodies)
    bare = time.perf_counter() - started
    assert parsed == total_items

    server = BenchServer(bodies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        config = Path(tmp) / "monitor.toml"
        config.write_text('[http]\nhost_min_gap = 0\nper_host = 20\nmax_connections = 20\n'
                          '[polling]\nstartup_spread = 0\n', encoding="utf-8")
        opml = Path(tmp) / "feeds.opml"
        opml.write_text('<?xml version="1.0"?><opml version="2.0"><head/><body>' + "".join(
            f'<outline type="rss" text="bench-{n}" xmlUrl="http://127.0.0.1:{port}/feeds/{n}.xml"/>'
            for n in range(args.feeds)) + "</body></opml>", encoding="utf-8")
        env = {**os.environ, "MONITOR_DATABASE_URL": url, "MONITOR_CONFIG": str(config)}
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env.pop(var, None)
        run_monitor(["db", "upgrade"], env)
        run_monitor(["feeds", "import", str(opml)], env)

        cold, cold_wall, cold_rss = run_monitor(["poll", "--once", "--all", "--json"], env)
        warm304, warm_wall, warm_rss = run_monitor(["poll", "--once", "--all", "--json"], env)
        # (d): forget the validators on both sides; the body hash alone must spare the parse.
        server.send_validators = False
        from sqlalchemy import create_engine, text

        from monitor.database import normalise_url

        engine = create_engine(normalise_url(url))
        with engine.begin() as conn:
            conn.execute(text("UPDATE feeds SET etag = NULL, last_modified = NULL"))
        engine.dispose()
        same, same_wall, same_rss = run_monitor(["poll", "--once", "--all", "--json"], env)
    server.shutdown()

    bare_rate = total_items / bare
    cold_rate = cold["items_new"] / cold["seconds"] if cold["seconds"] else 0.0
    result = {
        "feeds": args.feeds, "items_per_feed": args.items, "items": total_items,
        "cores": os.cpu_count(), "database": url.split(":", 1)[0],
        "a_bare_feedparser": {"seconds": round(bare, 2), "items_per_s": round(bare_rate)},
        "b_cold_poll": {"seconds": cold["seconds"], "wall_seconds_with_startup": round(cold_wall, 2),
                        "items_new": cold["items_new"], "errors": cold["errors"],
                        "items_per_s": round(cold_rate), "peak_rss_mib": round(cold_rss / 1024, 1)},
        "c_warm_304": {"seconds": warm304["seconds"], "not_modified": warm304["not_modified"],
                       "fetched": warm304["fetched"], "peak_rss_mib": round(warm_rss / 1024, 1)},
        "d_warm_unchanged_no_validators": {"seconds": same["seconds"], "unchanged": same["unchanged"],
                                           "parsed": same["fetched"], "peak_rss_mib": round(same_rss / 1024, 1)},
        "ratio_b_to_a": round(cold_rate / bare_rate, 2),
        "goals": {"b_at_least_0.7_of_a": cold_rate >= 0.7 * bare_rate,
                  "c_under_5_s": warm304["seconds"] < 5 and warm304["not_modified"] == args.feeds,
                  "d_parses_nothing": same["fetched"] == 0 and same["unchanged"] == args.feeds},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
