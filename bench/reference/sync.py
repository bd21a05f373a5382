#!/usr/bin/env python3
"""The straightforward full sync a user would write instead of extract-syncd (issue 7, target 1).

Python 3 standard library only: urllib for GET /v1/batches page by page, sqlite3 with one
transaction per page, every batch upserted into a table shaped like the mirror's `batches`,
raw JSON kept. No transitions, events or deliveries: it does less than the daemon, so the
comparison flatters it.

    sync.py --base-url http://127.0.0.1:PORT --db /tmp/ref.db [--api-key KEY] [--page-size 200]

Prints "reference: PAGES pages, BATCHES batches in SECONDS s (RATE batches/s)".
"""

import argparse
import json
import sqlite3
import sys
import time
import urllib.parse
import urllib.request

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, total_items INTEGER NOT NULL,
    count_pending INTEGER NOT NULL, count_running INTEGER NOT NULL, count_succeeded INTEGER NOT NULL,
    count_failed INTEGER NOT NULL, count_cancelled INTEGER NOT NULL, engine TEXT, options TEXT NOT NULL,
    metadata TEXT, created_at TEXT NOT NULL, started_at TEXT, completed_at TEXT, expires_at TEXT NOT NULL,
    raw TEXT NOT NULL, first_seen_at TEXT NOT NULL, last_seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_created ON batches (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS batches_status ON batches (status, created_at DESC, id DESC);
"""

UPSERT = """
INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, total_items = excluded.total_items,
    count_pending = excluded.count_pending, count_running = excluded.count_running,
    count_succeeded = excluded.count_succeeded, count_failed = excluded.count_failed,
    count_cancelled = excluded.count_cancelled, engine = excluded.engine, options = excluded.options,
    metadata = excluded.metadata, created_at = excluded.created_at, started_at = excluded.started_at,
    completed_at = excluded.completed_at, expires_at = excluded.expires_at, raw = excluded.raw,
    last_seen_at = excluded.last_seen_at
"""


def row(batch, now):
    counts = batch["counts"]
    metadata = batch.get("metadata")
    return (batch["id"], batch["status"], batch["total_items"], counts["pending"], counts["running"],
            counts["succeeded"], counts["failed"], counts["cancelled"], batch.get("engine"),
            json.dumps(batch["options"]), None if metadata is None else json.dumps(metadata),
            batch["created_at"], batch.get("started_at"), batch.get("completed_at"), batch["expires_at"],
            json.dumps(batch), now, now)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--api-key", default="sim-key")
    parser.add_argument("--page-size", type=int, default=200)
    args = parser.parse_args()

    db = sqlite3.connect(args.db)
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(SCHEMA)

    started = time.monotonic()
    pages = batches = 0
    cursor = None
    while True:
        query = {"limit": args.page_size}
        if cursor:
            query["cursor"] = cursor
        request = urllib.request.Request(args.base_url + "/v1/batches?" + urllib.parse.urlencode(query),
                                         headers={"X-API-KEY": args.api_key})
        with urllib.request.urlopen(request, timeout=30) as response:
            page = json.load(response)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        with db:  # one transaction per page
            db.executemany(UPSERT, [row(batch, now) for batch in page["data"]])
        pages += 1
        batches += len(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    seconds = time.monotonic() - started
    print(f"reference: {pages} pages, {batches} batches in {seconds:.3f} s ({batches / seconds:.0f} batches/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
