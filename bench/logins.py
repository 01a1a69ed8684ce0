"""What a flood of sign-ins costs: memory and time of 100 concurrent POST /auth/token, against the API at rest.

    python -m bench.logins [--logins 100]

Each sign-in hashes a password with argon2id (19 MiB, by design). The API
runs at most a few hashes at a time per process (app/auth/passwords.py), so
memory is bounded whatever the number of logins arriving at once; this
measures that bound, the server's peak RSS while the logins run beside its
RSS at rest, on a throwaway embedded PostgreSQL.
"""

import argparse
import asyncio
import sys
import threading
import time

import httpx

from app.auth.passwords import MAX_CONCURRENT_HASHES, MEMORY_KIB
from bench.servers import process_tree, served_on_throwaway_postgres

PASSWORD = "a passphrase for the load test"


def rss_mb(pid: int) -> float:
    """RSS of the server and its workers, in MB."""
    return sum(each.memory_info().rss for each in process_tree(pid)) / 1e6


async def flood(base_url: str, logins: int, right: int) -> list[int]:
    """`logins` sign-ins at once; the first `right` with the right password, the rest wrong (different emails)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:

        async def sign_in(n: int) -> int:
            email = "bench@example.com" if n < right else f"nobody{n}@example.com"
            response = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
            return response.status_code

        return await asyncio.gather(*(sign_in(n) for n in range(logins)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.logins", description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=100)
    arguments = parser.parse_args(argv)
    with served_on_throwaway_postgres("portfolio-bench-logins-", auth="required") as (base_url, server):
        account = {"name": "Bench User", "email": "bench@example.com", "password": PASSWORD}
        httpx.post(f"{base_url}/users/", json=account, timeout=30).raise_for_status()
        at_rest = rss_mb(server.pid)
        peak, sampling = at_rest, True

        def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, rss_mb(server.pid))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        # A few right, the rest wrong: the throttle (20 failures per address) answers most
        # of the wrong ones with a 429 once it trips, so most requests here hash once.
        statuses = asyncio.run(flood(base_url, arguments.logins, right=arguments.logins))
        elapsed = time.perf_counter() - started
        sampling = False
        sampler.join()
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    print(f"{arguments.logins} concurrent sign-ins: {counts} in {elapsed:.2f} s")
    print(f"server RSS: {at_rest:.0f} MB at rest, {peak:.0f} MB at peak (+{peak - at_rest:.0f} MB)")
    print(f"bound: {MAX_CONCURRENT_HASHES} hashes at a time x {MEMORY_KIB / 1024:.0f} MiB each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
