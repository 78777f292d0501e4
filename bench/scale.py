"""Scale-out benchmark: 1, 2 and 4 `monitor run` workers sharing one PostgreSQL.

Serves N generated feeds on loopback, registers them in a fresh database, starts the workers
and measures how long until every feed has been polled once (a cold poll: every item new).
Prints JSON with feeds/s and items/s per worker count and the ratio to one worker, measured
in the same run.

    .venv/bin/python bench/scale.py [--feeds 2000] [--items 20] [--workers 1 2 4]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Every feed is on 127.0.0.1, so per-host politeness is lifted (it would measure our own
sleeping). The HTTP server, PostgreSQL and the workers share this machine's cores, which is
what limits the scaling here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from ingest import BenchServer  # noqa: E402
from feedgen import realistic_feed  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from monitor.database import Database  # noqa: E402
from monitor.models import Feed, Item  # noqa: E402


def run_workers(admin_url: str, port: int, feeds: int, items: int, workers: int, tmp: Path) -> dict:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"monitor_scale_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        db = Database(url)
        db.upgrade()
        config = tmp / f"monitor-{workers}.toml"
        config.write_text('[http]\nhost_min_gap = 0\nper_host = 20\nmax_connections = 20\n'
                          '[polling]\ntick = "0.5s"\nstartup_spread = 0\nparse_workers = 1\n'
                          'min_interval = "1h"\ndefault_interval = "1h"\n[rules]\npaths = []\n', encoding="utf-8")
        opml = tmp / "feeds.opml"
        opml.write_text('<?xml version="1.0"?><opml version="2.0"><head/><body>' + "".join(
            f'<outline type="rss" text="bench-{n}" xmlUrl="http://127.0.0.1:{port}/feeds/{n}.xml"/>'
            for n in range(feeds)) + "</body></opml>", encoding="utf-8")
        env = {**os.environ, "MONITOR_DATABASE_URL": url}
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env.pop(var, None)
        subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "feeds", "import", str(opml)],
                       env=env, check=True, capture_output=True)
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "--log-level", "error",
                                   "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
        try:
            while True:
                with db.session() as session:
                    done = session.scalar(select(func.count()).select_from(Feed)
                                          .where(Feed.last_success_at.is_not(None)))
                if done >= feeds:
                    break
                if time.perf_counter() - started > 900:
                    raise SystemExit(f"{workers} workers: only {done} of {feeds} feeds polled in 900 s")
                time.sleep(0.25)
            seconds = time.perf_counter() - started
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=60)
        with db.session() as session:
            stored = session.scalar(select(func.count()).select_from(Item))
        db.dispose()
        return {"workers": workers, "seconds": round(seconds, 2), "feeds_per_s": round(feeds / seconds, 1),
                "items_per_s": round(stored / seconds), "items": stored}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--admin-url", default=os.environ.get(
        "MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    server = BenchServer([realistic_feed(n, args.items) for n in range(args.feeds)])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            runs.append(run_workers(args.admin_url, server.server_address[1], args.feeds, args.items, workers,
                                    Path(tmp)))
    server.shutdown()
    base = runs[0]["feeds_per_s"]
    for run in runs:
        run["speedup_vs_first"] = round(run["feeds_per_s"] / base, 2)
    print(json.dumps({"feeds": args.feeds, "items_per_feed": args.items, "cores": os.cpu_count(),
                      "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
