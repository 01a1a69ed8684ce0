"""What an `Idempotency-Key` costs: POST /users/{id}/stocks/ without a key, with a fresh key, and replayed.

    python -m bench.idempotency [--requests 400] [--concurrency 16] [--rounds 5]

On a throwaway embedded PostgreSQL, the API served as production serves it
(`python -m app serve`, request log off), loaded by an async client with the
three kinds of request taking turns, in a different order each round, so the
machine's noise falls on all three. Reported per kind: the server's CPU time
per request (the figure that reads through a busy machine) and requests/s,
medians over the rounds, with the ratios to the POST without a key.
"""

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import httpx

from bench.servers import process_tree, served_on_throwaway_postgres

STOCK = {"name": "AAPL", "price": 175.5, "quantity": 10, "is_active": True}
REPLAYED_KEY = "bench-replayed-key"


def cpu_seconds(pid: int) -> float:
    return sum(sum(each.cpu_times()[:2]) for each in process_tree(pid))


def no_key(n: int) -> dict[str, str]:
    return {}


def fresh_key(n: int) -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def replayed_key(n: int) -> dict[str, str]:
    return {"Idempotency-Key": REPLAYED_KEY}


KINDS: dict[str, Callable[[int], dict[str, str]]] = {
    "no key": no_key,
    "fresh key": fresh_key,
    "replayed key": replayed_key,
}


async def load(
    base_url: str, url: str, headers: Callable[[int], dict[str, str]], requests: int, concurrency: int
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        queue = iter(range(requests))

        async def worker() -> None:
            for n in queue:
                response = await client.post(url, json=STOCK, headers=headers(n))
                if response.status_code != 201:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idempotency", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per kind and round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args(argv)
    cpu_ms: dict[str, list[float]] = {kind: [] for kind in KINDS}
    per_second: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with served_on_throwaway_postgres("portfolio-bench-idempotency-", auth="open") as (base_url, server):
        user = httpx.post(f"{base_url}/users/", json={"name": "Bench User"}, timeout=30).json()
        url = f"/users/{user['id']}/stocks/"
        # The replayed key's first answer, alone (at once, the others would be 409s), then a warm-up of each.
        httpx.post(f"{base_url}{url}", json=STOCK, headers=replayed_key(0), timeout=30).raise_for_status()
        for headers in KINDS.values():
            asyncio.run(load(base_url, url, headers, 50, arguments.concurrency))
        for _ in range(arguments.rounds):
            for kind in random.sample(list(KINDS), len(KINDS)):
                before, started = cpu_seconds(server.pid), time.perf_counter()
                asyncio.run(load(base_url, url, KINDS[kind], arguments.requests, arguments.concurrency))
                elapsed, spent = time.perf_counter() - started, cpu_seconds(server.pid) - before
                cpu_ms[kind].append(spent * 1000 / arguments.requests)
                per_second[kind].append(arguments.requests / elapsed)
    base_cpu, base_rate = statistics.median(cpu_ms["no key"]), statistics.median(per_second["no key"])
    print(f"POST /users/{{id}}/stocks/, {arguments.requests} requests x {arguments.rounds} rounds, "
          f"{arguments.concurrency} at a time; medians")  # fmt: skip
    print(f"{'':14}{'server CPU ms/request':>24}{'requests/s':>14}")
    for kind in KINDS:
        cpu, rate = statistics.median(cpu_ms[kind]), statistics.median(per_second[kind])
        print(f"{kind:14}{cpu:>14.2f} (x{cpu / base_cpu:.2f}){rate:>8.0f} (x{rate / base_rate:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
