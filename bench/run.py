"""`make bench`: the API against a raw floor, endpoint by endpoint, in the same run.

    python -m bench.run [--large] [--workers N] [--rounds R] [--seconds S] [--only NAME ...]

On a throwaway embedded PostgreSQL it loads demo data (10,000 users x 10
stocks; --large: x 100, a million stocks), starts the API as production runs
it (`python -m app`, no access log) and the floor beside it (bench/floor.py:
plain Starlette, bare psycopg, the same SQL), then loads each endpoint with
wrk, alternating API and floor round by round so machine noise hits both.
It prints requests/s, p50 and p99 per endpoint with the ratio to the floor,
checks the bars, and writes the lot as JSON to bench/results/.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from app.config import PROJECT_ROOT
from app.db import upgrade_to_head
from app.demo import DemoSize, fill_with_demo_data
from app.embedded_db import embedded_postgres
from tests.helpers import libpq_url
from tests.processes import free_port, run_app, stop, wait_until_serving

RESULTS = PROJECT_ROOT / "bench" / "results"
WRK_SCRIPT = PROJECT_ROOT / "bench" / "wrk.lua"
THREADS = 2
STOCK = {"name": "AAPL", "price": 175.5, "quantity": 10, "is_active": True}


@dataclass
class Scenario:
    name: str
    method: str
    api_path: str
    floor_path: str
    id_range: tuple[int, int] = (1, 1)
    ids: str = "random"
    body: dict | None = None
    # The floor this endpoint must reach, as a share of its requests/s.
    bar: float | None = None


@dataclass
class Measurement:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


@dataclass
class Result:
    scenario: str
    api: list[Measurement] = field(default_factory=list)
    floor: list[Measurement] = field(default_factory=list)

    @staticmethod
    def _median(runs: list[Measurement], attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in runs)

    def summary(self) -> dict[str, Any]:
        api_rps, floor_rps = (
            self._median(self.api, "requests_per_second"),
            self._median(self.floor, "requests_per_second"),
        )
        api_p99, floor_p99 = self._median(self.api, "p99_ms"), self._median(self.floor, "p99_ms")
        return {
            "api_rps": round(api_rps),
            "floor_rps": round(floor_rps),
            "ratio": round(api_rps / floor_rps, 2),
            "api_p50_ms": round(self._median(self.api, "p50_ms"), 2),
            "api_p99_ms": round(api_p99, 2),
            "floor_p50_ms": round(self._median(self.floor, "p50_ms"), 2),
            "floor_p99_ms": round(floor_p99, 2),
            "p99_ratio": round(api_p99 / floor_p99, 2),
            "non_2xx": sum(run.non_2xx for run in self.api + self.floor),
        }


def wrk(base_url: str, scenario: Scenario, path: str, seconds: int, connections: int) -> Measurement:
    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_PATH": path,
        "BENCH_IDS": scenario.ids,
        "BENCH_ID_LOW": str(scenario.id_range[0]),
        "BENCH_ID_HIGH": str(scenario.id_range[1]),
        "BENCH_THREADS": str(THREADS),
    }
    if scenario.body is not None:
        env["BENCH_BODY"] = json.dumps(scenario.body)
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        base_url,
    ]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    return Measurement(
        requests_per_second=report["requests"] / (report["duration_us"] / 1e6),
        p50_ms=report["p50_us"] / 1000,
        p99_ms=report["p99_us"] / 1000,
        non_2xx=report["non_2xx"] + report["socket_errors"],
    )


def fresh_stock_ids(database_url: str, count: int) -> tuple[int, int]:
    """Insert `count` stocks for user 1 to be deleted; their id range."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        low, high = connection.execute(
            "WITH added AS (INSERT INTO stocks (name, price, quantity, user_id) "
            "SELECT 'DEL', 1, 1, 1 FROM generate_series(1, %s) RETURNING id) SELECT min(id), max(id) FROM added",
            [count],
        ).fetchone()
    return low, high


def process_tree_rss_mb(pid: int) -> float:
    """The largest resident set of the API's processes (the server, or each worker)."""
    process = psutil.Process(pid)
    members = [process, *process.children(recursive=True)]
    return max(member.memory_info().rss for member in members if member.is_running()) / 2**20


def scenarios(api_url: str, stocks: int, users: int) -> list[Scenario]:
    # The page that starts 10,000 rows before the end (the 990,000th row of a
    # million): the API's own next link, found once with skip.
    deep = stocks - 10_000
    link = httpx.get(f"{api_url}/stocks/", params={"limit": 1, "skip": deep - 1}).headers["link"]
    deep_path = link.split(">")[0].removeprefix(f"<{api_url}").replace("limit=1", "limit=100")
    return [
        Scenario("GET /users/{id}", "GET", "/users/{id}", "/users/{id}", (1, users), bar=0.5),
        Scenario("GET /stocks/?limit=100", "GET", "/stocks/?limit=100", "/stocks/?limit=100", bar=0.5),
        Scenario(f"GET /stocks/ from row {deep:,}", "GET", deep_path, f"/stocks/?limit=100&after={deep}", bar=0.5),
        Scenario(
            "POST /users/{id}/stocks/",
            "POST",
            "/users/{id}/stocks/",
            "/users/{id}/stocks/",
            (1, users),
            body=STOCK,
            bar=0.4,
        ),
        Scenario("PUT /stocks/{id}", "PUT", "/stocks/{id}", "/stocks/{id}", (1, stocks), body=STOCK, bar=0.4),
        Scenario("DELETE /stocks/{id}", "DELETE", "/stocks/{id}", "/stocks/{id}", ids="each-once", bar=0.4),
        Scenario("GET /", "GET", "/", "/"),
    ]


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
    }


def print_table(summaries: dict[str, dict[str, Any]], bars: dict[str, float | None]) -> None:
    header = (
        f"{'endpoint':34} {'API req/s':>10} {'floor req/s':>12} {'ratio':>6} {'bar':>5}  "
        f"{'p50 ms':>7} {'p99 ms':>7} {'floor p99':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, row in summaries.items():
        bar = bars[name]
        verdict = "" if bar is None else ("ok" if row["ratio"] >= bar else "MISS")
        print(
            f"{name:34} {row['api_rps']:>10,} {row['floor_rps']:>12,} {row['ratio']:>6.2f} {verdict:>5}  "
            f"{row['api_p50_ms']:>7.2f} {row['api_p99_ms']:>7.2f} {row['floor_p99_ms']:>9.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="1,000,000 stocks (10,000 users x 100) instead of 100,000")
    parser.add_argument("--workers", type=int, default=1, help="API and floor worker processes (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds per endpoint (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--only", nargs="*", help="endpoints whose name contains one of these")
    arguments = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian or Ubuntu: sudo apt-get install wrk  (macOS: brew install wrk)")
        return 2

    users, stocks_per_user = 10_000, (100 if arguments.large else 10)
    with (
        tempfile.TemporaryDirectory(prefix="portfolio-bench-") as scratch,
        embedded_postgres(Path(scratch) / "pgdata", "bench", keep_data=False) as database_url,
    ):
        upgrade_to_head(database_url)
        fill_with_demo_data(database_url, DemoSize(users=users, stocks_per_user=stocks_per_user), seed=1)
        stocks = users * stocks_per_user
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
            postgres_version = connection.execute("SHOW server_version").fetchone()[0]

        api_port, floor_port = free_port(), free_port()
        api_url, floor_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{floor_port}"
        logs = Path(scratch)
        common = {"LOG_LEVEL": "warning", "WORKERS": str(arguments.workers)}
        api = run_app(
            {**common, "DATABASE_URL": database_url, "PORT": str(api_port), "ACCESS_LOG": "false"},
            output=open(logs / "api.log", "w"),
        )
        floor = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "bench.floor:create_app", "--port", str(floor_port),
             "--no-access-log", "--log-level", "warning", "--workers", str(arguments.workers)],
            cwd=PROJECT_ROOT, env={**os.environ, "BENCH_DATABASE_URL": database_url},
            stdout=open(logs / "floor.log", "w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until_serving(api_url, api)
            wait_until_serving(floor_url, floor)
            results: dict[str, Result] = {}
            peak_rss_mb = 0.0
            chosen = [
                scenario
                for scenario in scenarios(api_url, stocks, users)
                if not arguments.only or any(part in scenario.name for part in arguments.only)
            ]
            for scenario in chosen:
                result = results[scenario.name] = Result(scenario.name)
                print(f"{scenario.name} ...", flush=True)
                for round_number in range(arguments.rounds + 1):  # round 0 warms both up
                    targets = [("api", api_url, scenario.api_path), ("floor", floor_url, scenario.floor_path)]
                    for target, base_url, path in targets if round_number % 2 == 0 else targets[::-1]:
                        if scenario.ids == "each-once":
                            scenario.id_range = fresh_stock_ids(database_url, 40_000)
                        seconds = 1 if round_number == 0 else arguments.seconds
                        measurement = wrk(base_url, scenario, path, seconds, arguments.connections)
                        if round_number:
                            getattr(result, target).append(measurement)
                        if target == "api":
                            peak_rss_mb = max(peak_rss_mb, process_tree_rss_mb(api.pid))
        finally:
            stop(api)
            floor.terminate()
            floor.wait(30)

    summaries = {name: result.summary() for name, result in results.items()}
    bars = {scenario.name: scenario.bar for scenario in chosen}
    print()
    print_table(summaries, bars)
    checks = bar_checks(summaries, bars, peak_rss_mb)
    print()
    for check, holds in checks.items():
        print(f"{'ok  ' if holds else 'MISS'} {check}")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / f"{stamp}{'-large' if arguments.large else ''}-w{arguments.workers}.json"
    output.write_text(
        json.dumps(
            {
                "when": stamp,
                "machine": machine(),
                "postgres": postgres_version,
                "settings": vars(arguments) | {"users": users, "stocks": stocks, "wrk_threads": THREADS},
                "endpoints": summaries,
                "runs": {
                    name: {"api": [asdict(m) for m in r.api], "floor": [asdict(m) for m in r.floor]}
                    for name, r in results.items()
                },
                "api_peak_rss_mb": round(peak_rss_mb, 1),
                "bars": checks,
            },
            indent=2,
        )
    )
    print(f"\nAPI peak RSS per process: {peak_rss_mb:.0f} MB. Results: {output.relative_to(PROJECT_ROOT)}")
    return 0


def bar_checks(
    summaries: dict[str, dict[str, Any]], bars: dict[str, float | None], peak_rss_mb: float
) -> dict[str, bool]:
    checks = {}
    for name, row in summaries.items():
        if bars[name] is not None:
            checks[f"{name}: {row['ratio']:.2f} x the floor's requests/s (bar {bars[name]})"] = (
                row["ratio"] >= bars[name]
            )
        if row["non_2xx"]:
            checks[f"{name}: every answer a 2xx ({row['non_2xx']} were not)"] = False
    if "GET /users/{id}" in summaries:
        row = summaries["GET /users/{id}"]
        checks[f"GET /users/{{id}}: p99 {row['p99_ratio']:.2f} x the floor's (bar 2)"] = row["p99_ratio"] <= 2
    first = summaries.get("GET /stocks/?limit=100")
    deep = next((row for name, row in summaries.items() if name.startswith("GET /stocks/ from row")), None)
    if first and deep:
        ratio = deep["api_p99_ms"] / first["api_p99_ms"]
        checks[f"deep page p99 {ratio:.2f} x the first page's (bar 1.5)"] = ratio <= 1.5
    checks[f"API peak RSS {peak_rss_mb:.0f} MB per process (bar 150)"] = peak_rss_mb < 150
    return checks


if __name__ == "__main__":
    sys.exit(main())
