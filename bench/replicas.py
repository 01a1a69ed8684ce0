"""`make bench`, replicas: read throughput with reads split across a primary and a replica, against the primary only.

    python -m bench.replicas [--users N] [--seconds S] [--rounds R] [--workers W]

On a throwaway embedded PostgreSQL and a streaming replica of it
(`pg_basebackup -R`, app/core/embedded_postgres.py), with demo data, two API
servers run side by side: one on the primary alone, one with
DATABASE_REPLICA_URLS naming the replica. wrk loads each read endpoint on
each, in turn, in a different order each round. Reported per endpoint:
requests/s of both and their ratio, and PostgreSQL's CPU time per request on
the primary and on the replica (from the servers' own processes), which says
where the database's work went whatever the machine's noise.

Then the replication lag under a write load (POST /users/{id}/stocks/ with
wrk on the API): time from a position read on the primary to the replica
having replayed it, sampled every 50 ms; its p50, p99 and maximum are the
eventual-consistency bound for callers who send no X-Read-After.

On two cores, the API's Python and both PostgreSQL servers share the same
two cores: a replica cannot add capacity, only move the database's share of
the work, so the throughput ratio stays near 1 here; what to read is that
the primary's CPU per read drops to nearly nothing. On separate machines,
that is the primary's capacity given back to writes.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from app.cli.demo import DemoSize, fill_with_demo_data
from app.core.config import PROJECT_ROOT
from app.core.embedded_postgres import embedded_postgres, embedded_replica, running_server_pid
from app.core.migrations import upgrade_to_head
from bench.run import RESULTS, STOCK, Scenario, machine, process_tree_cpu_seconds, wrk
from bench.servers import free_port, libpq_url, wait_until_serving

PRIMARY_ONLY = "primary only"
WITH_REPLICA = "primary + replica"


@dataclass
class ApiServer:
    name: str
    url: str
    process: subprocess.Popen[bytes]


def postgres_cpu_seconds(data_dir: Path) -> float:
    """CPU time so far of a PostgreSQL server's processes (postmaster and backends)."""
    pid = running_server_pid(data_dir)
    return 0.0 if pid is None else process_tree_cpu_seconds(pid)


def start_api(name: str, scratch: Path, workers: int, **env: str) -> ApiServer:
    port = free_port()
    log = open(scratch / f"{name.replace(' ', '-').replace('+', 'and')}.log", "w")  # noqa: SIM115  # lives with the server
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", str(port),
         "--no-access-log", "--log-level", "warning", "--workers", str(workers)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "AUTH": "open", "ACCESS_LOG": "false", "LOG_FORMAT": "json",
             "HOUSEKEEPING_INTERVAL_SECONDS": "0", "WORKERS": str(workers), **env},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return ApiServer(name, f"http://127.0.0.1:{port}", process)


def lag_samples(primary_url: str, replica_url: str, stop: threading.Event) -> list[float]:
    """Seconds from a WAL position read on the primary to the replica having replayed it, every 50 ms."""
    samples = []
    with (
        psycopg.connect(libpq_url(primary_url), autocommit=True) as primary,
        psycopg.connect(libpq_url(replica_url), autocommit=True) as replica,
    ):
        while not stop.is_set():
            started = time.monotonic()
            position = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]  # one row
            while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s", [position]).fetchone()[0]:  # type: ignore[index]
                time.sleep(0.001)
            samples.append(time.monotonic() - started)
            time.sleep(0.05)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rb-", dir="/tmp") as scratch_name:
        scratch = Path(scratch_name)
        with embedded_postgres(scratch / "primary", "portfolio_bench", keep_data=False) as primary_url:
            upgrade_to_head(primary_url)
            print(f"Filling {arguments.users:,} users x 5 stocks ...", flush=True)
            fill_with_demo_data(primary_url, DemoSize(users=arguments.users, stocks_per_user=5), seed=1)
            with embedded_replica(primary_url, scratch / "replica") as replica:
                run(arguments, scratch, primary_url, replica.url, replica.data_dir)


def run(arguments: argparse.Namespace, scratch: Path, primary_url: str, replica_url: str, replica_dir: Path) -> None:
    servers = [
        start_api(PRIMARY_ONLY, scratch, arguments.workers, DATABASE_URL=primary_url),
        start_api(
            WITH_REPLICA, scratch, arguments.workers, DATABASE_URL=primary_url, DATABASE_REPLICA_URLS=replica_url
        ),
    ]
    try:
        wait_until_serving(*[(server.url, server.process) for server in servers])
        users = arguments.users
        scenarios = [
            Scenario("GET /users/{id}", "GET", "/users/{id}", "", (1, users)),
            Scenario("GET /users/{id}/portfolio", "GET", "/users/{id}/portfolio", "", (1, users)),
            Scenario("GET /stocks/?limit=100", "GET", "/stocks/?limit=100", ""),
        ]
        results: dict[str, dict[str, list[dict[str, float]]]] = {}
        for round_number in range(arguments.rounds):
            for scenario in scenarios:
                order = servers if round_number % 2 == 0 else servers[::-1]
                for server in order:
                    primary_cpu, replica_cpu = (
                        postgres_cpu_seconds(scratch / "primary"),
                        postgres_cpu_seconds(replica_dir),
                    )
                    measured = wrk(server.url, scenario, scenario.api_path, arguments.seconds, arguments.connections)
                    requests = max(measured.requests, 1)
                    results.setdefault(scenario.name, {}).setdefault(server.name, []).append(
                        {
                            "rps": measured.requests_per_second,
                            "non_2xx": measured.non_2xx,
                            "primary_us": (postgres_cpu_seconds(scratch / "primary") - primary_cpu) / requests * 1e6,
                            "replica_us": (postgres_cpu_seconds(replica_dir) - replica_cpu) / requests * 1e6,
                        }
                    )
        summary = report(results)

        print("\nReplication lag under a write load (POST /users/{id}/stocks/ on the API with the replica) ...")
        stop = threading.Event()
        samples: list[float] = []
        sampler = threading.Thread(target=lambda: samples.extend(lag_samples(primary_url, replica_url, stop)))
        sampler.start()
        writes = wrk(
            servers[1].url,
            Scenario("POST", "POST", "/users/{id}/stocks/", "", (1, users), body=STOCK),
            "/users/{id}/stocks/",
            arguments.seconds * 2,
            arguments.connections,
        )
        stop.set()
        sampler.join()
        samples.sort()
        lag = {
            "writes_per_second": round(writes.requests_per_second),
            "writes_not_2xx": writes.non_2xx,
            "samples": len(samples),
            "p50_ms": round(statistics.median(samples) * 1000, 2),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 2),
            "max_ms": round(samples[-1] * 1000, 2),
        }
        print(
            f"{lag['writes_per_second']:,} writes/s ({writes.non_2xx} not 2xx); "
            f"replay lag over {lag['samples']} samples: "
            f"p50 {lag['p50_ms']} ms, p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms"
        )
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"replicas-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        path.write_text(json.dumps({"machine": machine(), "arguments": vars(arguments), "reads": summary, "lag": lag},
                                   indent=2))  # fmt: skip
        print(f"\nWritten to {path.relative_to(PROJECT_ROOT)}")
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            server.process.wait(timeout=30)


def report(results: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, dict[str, dict[str, float]]]:
    header = (
        f"{'endpoint':28} {'server':18} {'req/s':>7} {'ratio':>6} {'primary PG us/req':>18} {'replica PG us/req':>18}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for endpoint, by_server in results.items():
        base = statistics.median(run["rps"] for run in by_server[PRIMARY_ONLY])
        label = endpoint
        for name, runs in by_server.items():
            row = {key: statistics.median(run[key] for run in runs) for key in ("rps", "primary_us", "replica_us")}
            row["ratio"] = row["rps"] / base
            row["non_2xx"] = sum(run["non_2xx"] for run in runs)
            summary.setdefault(endpoint, {})[name] = {key: round(value, 2) for key, value in row.items()}
            print(
                f"{label:28} {name:18} {row['rps']:>7,.0f} {row['ratio']:>6.2f} {row['primary_us']:>18,.0f} "
                f"{row['replica_us']:>18,.0f}" + (f"  ({row['non_2xx']:.0f} not 2xx!)" if row["non_2xx"] else "")
            )
            label = ""
    return summary


if __name__ == "__main__":
    main()
