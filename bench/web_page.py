"""The portfolio page's budget: server time for 100 holdings, and the bytes a first visit transfers.

    python -m bench.web_page [--requests 200]

Starts `python -m app` as `make run` does (an embedded PostgreSQL in a
temporary directory, AUTH=open, JSON logs), gives one user 100 holdings over
20 symbols (a tenth of them inactive), requests GET /app/users/{id} one at a
time, and reads each request's server time from its request-log line
(`duration_ms`: from the first byte in to the last byte out, in the
process). Then it fetches the page and everything it loads, and adds up the
bytes as sent (the app does not compress; gzip sizes beside them, for a
proxy that does). A measurement, not a test: docs/explanation/performance.md states the
numbers.
"""

import argparse
import re
import statistics
import sys
import zlib

import httpx

from app.core.config import PROJECT_ROOT
from bench.servers import app_with_request_log

SERVER_TIME_BUDGET_MS = 50
TRANSFER_BUDGET_BYTES = 400 * 1024
SYMBOLS = [
    "AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "BRK.B", "JPM", "V",
    "JNJ", "WMT", "PG", "MA", "HD", "XOM", "KO", "PEP", "DIS", "NFLX",
]  # fmt: skip
PAGE_ROUTE = "/app/users/{user_id}"


def gzip_size(body: bytes) -> int:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return len(compressor.compress(body) + compressor.flush())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_page", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="page requests measured (after 20 to warm up)")
    arguments = parser.parse_args()

    with app_with_request_log(PROJECT_ROOT, "portfolio-budget-") as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            user_id = client.post("/users/", json={"name": "Budget Holder"}).json()["id"]
            for number in range(100):
                stock = {
                    "name": SYMBOLS[number % len(SYMBOLS)],
                    "price": round(12.3456 + number * 17.25, 4),
                    "quantity": 1 + number * 3,
                    "is_active": number % 10 != 9,
                }
                assert client.post(f"/users/{user_id}/stocks/", json=stock).status_code == 201
            page_path = f"/app/users/{user_id}"
            for _ in range(20 + arguments.requests):
                assert client.get(page_path).status_code == 200
            page = client.get(page_path)
            assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
            sizes = {page_path: page.content} | {asset: client.get(asset).content for asset in assets}
        # The warm-up and the last (fetched with its assets) left out.
        durations = [line["duration_ms"] for line in server.request_lines() if line.get("route") == PAGE_ROUTE][20:-1]

    durations.sort()
    median = statistics.median(durations)
    p95 = durations[int(len(durations) * 0.95) - 1]
    print(f"GET {PAGE_ROUTE}, 100 holdings, {len(durations)} requests, server time (request log):")
    print(
        f"  median {median:.1f} ms, p95 {p95:.1f} ms, max {durations[-1]:.1f} ms  (budget {SERVER_TIME_BUDGET_MS} ms)"
    )
    total = sum(len(body) for body in sizes.values())
    total_gzip = sum(gzip_size(body) for body in sizes.values())
    print("Transfer of a first visit (as sent, uncompressed; gzip -6 beside):")
    for name, body in sizes.items():
        print(f"  {len(body) / 1024:7.1f} KB  {gzip_size(body) / 1024:6.1f} KB gz  {name}")
    print(
        f"  {total / 1024:7.1f} KB  {total_gzip / 1024:6.1f} KB gz  in all (budget {TRANSFER_BUDGET_BYTES // 1024} KB)"
    )
    within = p95 < SERVER_TIME_BUDGET_MS and total < TRANSFER_BUDGET_BYTES
    print("within budget" if within else "OVER BUDGET")
    sys.exit(0 if within else 1)


if __name__ == "__main__":
    main()
