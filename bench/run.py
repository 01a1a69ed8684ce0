"""`make bench`: the API against a raw floor, endpoint by endpoint, in the same run.

    python -m bench.run [--large] [--workers N] [--rounds R] [--seconds S] [--passes P]
                        [--log-cost] [--without-heap-freeze] [--against GIT_REF] [--only NAME ...]

On a throwaway embedded PostgreSQL it loads demo data (10,000 users x 10
stocks; --large: x 100, a million stocks; each stock with its opening buy
only, as `python -m app demo --no-history` makes them: a fuller ledger would
more than double the fill, and the endpoints here work on stocks, not on their
history), starts the API as production runs it (uvicorn serving the app
factory with the HTTP protocol `python -m app` passes, as it does after
migrating; request log off) and the floor beside it (bench/floor.py: plain
Starlette, bare psycopg, the same SQL, on uvicorn's own protocol), then loads
each endpoint with wrk, taking the servers in turn, in a different order each round, so machine
noise hits them all. It prints requests/s, p50 and p99 per endpoint with the
ratios to the floor's, checks the bars, and writes the lot as JSON to
bench/results/.

More servers can join the same run, each measured beside the others:
  --log-cost             the API with its request log on (JSON lines to a file): what a line costs
  --token-cost           the API sent a user's bearer token with every request: what checking one costs
  --admin-cost           the API sent an admin's bearer token with every request: what asking the
                         database about the admin's rights costs, on top of checking the token
  --pat-cost             the API sent a personal access token with every request: its one lookup
                         (and a last-used write once a minute), against --token-cost's JWT if both run
  --without-heap-freeze  the API without gc.freeze() after start-up (bench/variants.py): what it buys
  --against REF          the API as of a git commit (`git archive`), or in a directory: before and after
--passes 3 runs every endpoint three times back to back and reports each
server's peak memory per pass, to show it does not grow.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
import psycopg

from app.auth.tokens import AccessTokens, personal_token_digest
from app.cli.demo import DemoSize, fill_with_demo_data
from app.core.config import PROJECT_ROOT
from app.core.embedded_postgres import embedded_postgres
from app.core.migrations import upgrade_to_head
from app.http.header_limit import HeaderLimitedHttpToolsProtocol
from bench.servers import free_port, libpq_url, process_tree, wait_until_serving

RESULTS = PROJECT_ROOT / "bench" / "results"
WRK_SCRIPT = PROJECT_ROOT / "bench" / "wrk.lua"
THREADS = 2
STOCK = {"name": "AAPL", "price": 175.5, "quantity": 10, "is_active": True}
API = "api"
FLOOR = "floor"
LOG_ON = "api, request log on"
NO_FREEZE = "api without heap freeze"
METRICS_ON = "api, metrics on"
WITH_TOKEN = "api, bearer token sent"
WITH_ADMIN_TOKEN = "api, admin's token sent"
WITH_PERSONAL_TOKEN = "api, personal access token sent"
TOKEN_COST_BAR = 0.10  # a request with a token: at most 10% below the same request without one
# Signs the bench's token; both API servers get it, so only the header differs.
BENCH_SECRET_KEY = "the-bench-servers-signing-key-long-enough-for-hs256"
# User 1's personal access token in the throwaway database (read and write, so every scenario answers 2xx).
BENCH_PERSONAL_TOKEN = "pat_" + "bench-personal-access-token-of-user-one".ljust(43, "x")
# Bars that are not about one endpoint.
LOG_COST_BAR = 0.05  # the request log line: at most 5% of throughput
RSS_BAR_MB = 150  # per process, through the large run
RSS_GROWTH_BAR = 0.05  # the last pass's peak at most 5% above the first's


@dataclass
class Scenario:
    name: str
    method: str
    api_path: str
    floor_path: str
    id_range: tuple[int, int] = (1, 1)
    ids: str = "random"
    body: dict | None = None
    # The floor this endpoint must reach, as a share of its requests/s ...
    bar: float | None = None
    # ... and the most its p99 may be, as a multiple of the floor's p99.
    p99_bar: float | None = None


@dataclass
class Measurement:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int = 0
    # The server's own CPU time (every process of it) per request answered:
    # what requests/s is, once the server's core is the limit, without the
    # noise of everything else on the machine.
    cpu_us_per_request: float = 0.0


@dataclass
class Server:
    """One server under test: the API (as it is, or a variant of it) or the floor."""

    name: str
    url: str
    process: subprocess.Popen
    is_floor: bool = False
    authorization: str | None = None  # an Authorization header sent with every request
    peak_rss_mb: list[float] = field(default_factory=list)  # one per pass

    def path(self, scenario: Scenario) -> str:
        return scenario.floor_path if self.is_floor else scenario.api_path


def _median(runs: list[Measurement], attribute: str) -> float:
    return statistics.median(getattr(run, attribute) for run in runs)


def summarize(runs: dict[str, list[Measurement]]) -> dict[str, dict[str, Any]]:
    """Per server: medians of requests/s, p50 and p99, and the ratios to the floor's."""
    floor_rps, floor_p99 = _median(runs[FLOOR], "requests_per_second"), _median(runs[FLOOR], "p99_ms")
    summary = {}
    for name, measurements in runs.items():
        rps, p99 = _median(measurements, "requests_per_second"), _median(measurements, "p99_ms")
        summary[name] = {
            "rps": round(rps),
            "ratio": round(rps / floor_rps, 2),
            "p50_ms": round(_median(measurements, "p50_ms"), 2),
            "p99_ms": round(p99, 2),
            "p99_ratio": round(p99 / floor_p99, 2),
            "cpu_us_per_request": round(_median(measurements, "cpu_us_per_request")),
            "non_2xx": sum(run.non_2xx for run in measurements),
        }
    return summary


def wrk(
    base_url: str, scenario: Scenario, path: str, seconds: int, connections: int, authorization: str | None = None
) -> Measurement:
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
    if authorization is not None:
        env["BENCH_AUTHORIZATION"] = authorization
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
        requests=report["requests"],
    )


def fresh_stock_ids(database_url: str, count: int) -> tuple[int, int]:
    """Insert `count` stocks for user 1 to be deleted; their id range."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        row = connection.execute(
            "WITH added AS (INSERT INTO stocks (name, price, quantity, user_id) "
            "SELECT 'DEL', 1, 1, 1 FROM generate_series(1, %s) RETURNING id) SELECT min(id), max(id) FROM added",
            [count],
        ).fetchone()
    assert row is not None  # an aggregate always answers one row
    return row[0], row[1]


def remove_stocks(database_url: str, id_range: tuple[int, int]) -> None:
    """Delete what is left of stocks made for DELETE: they belong to user 1, whom GET /users/{id} reads too."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("DELETE FROM stocks WHERE id BETWEEN %s AND %s", id_range)


def process_tree_cpu_seconds(pid: int) -> float:
    """User and system CPU time used so far by a server's processes (the server, or each worker)."""
    return sum(sum(member.cpu_times()[:2]) for member in process_tree(pid))


def process_tree_rss_mb(pid: int) -> float:
    """The largest resident set of a server's processes (the server, or each worker)."""
    return max(member.memory_info().rss for member in process_tree(pid)) / 2**20


def scenarios(api_url: str, stocks: int, users: int) -> list[Scenario]:
    # The page that starts 10,000 rows before the end (the 990,000th row of a
    # million): the API's own next link, found once with skip.
    deep = stocks - 10_000
    link = httpx.get(f"{api_url}/stocks/", params={"limit": 1, "skip": deep - 1}).headers["link"]
    deep_path = link.split(">")[0].removeprefix(f"<{api_url}").replace("limit=1", "limit=100")
    return [
        Scenario("GET /users/{id}", "GET", "/users/{id}", "/users/{id}", (1, users), bar=0.5, p99_bar=2),
        Scenario("GET /stocks/?limit=100", "GET", "/stocks/?limit=100", "/stocks/?limit=100", bar=0.5, p99_bar=3),
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
        Scenario("PATCH /stocks/{id}", "PATCH", "/stocks/{id}", "/stocks/{id}", (1, stocks), body={"quantity": 12}),
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


def print_table(summaries: dict[str, dict[str, dict[str, Any]]], order: list[str]) -> None:
    header = (
        f"{'endpoint':30} {'server':26} {'req/s':>7} {'x floor':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99 x floor':>12}"
        f" {'CPU us/req':>11}"
    )
    print(header)
    print("-" * len(header))
    for endpoint, servers in summaries.items():
        label = endpoint
        for name in order:
            row = servers[name]
            ratios = ("", "") if name == FLOOR else (f"{row['ratio']:.2f}", f"{row['p99_ratio']:.2f}")
            print(
                f"{label:30} {name:26} {row['rps']:>7,} {ratios[0]:>8} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} "
                f"{ratios[1]:>12} {row['cpu_us_per_request']:>11,}"
            )
            label = ""


def http_protocol_of(checkout: Path) -> str:
    """The HTTP protocol `python -m app` in `checkout` gives uvicorn: ours (app/http/header_limit.py), or else auto."""
    module, name = HeaderLimitedHttpToolsProtocol.__module__, HeaderLimitedHttpToolsProtocol.__qualname__
    if (checkout / Path(*module.split("."))).with_suffix(".py").is_file():
        return f"{module}:{name}"
    return "auto"


def start_servers(arguments: argparse.Namespace, database_url: str, scratch: Path, servers: list[Server]) -> None:
    """The API, the floor, then whichever variants were asked for, into `servers` as each starts; all serving."""

    def log_file(name: str) -> IO[str]:
        return open(scratch / f"{name.replace(' ', '-').replace(',', '')}.log", "w")

    common = {
        "DATABASE_URL": database_url,
        "WORKERS": str(arguments.workers),
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "ACCESS_LOG": "false",
        # The guide's API, as on loopback by default: the bench measures the
        # endpoints against a floor that has no accounts either.
        "AUTH": "open",
        "SECRET_KEY": BENCH_SECRET_KEY,
    }

    def uvicorn(name: str, factory: str, cwd: Path = PROJECT_ROOT, **env: str) -> None:
        # What `python -m app` runs once it has migrated: uvicorn, the app factory, the workers,
        # and the HTTP protocol it passes (the floor gets uvicorn's own).
        port = free_port()
        http = "auto" if factory.startswith("bench.floor") else http_protocol_of(cwd)
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port), "--no-access-log",
             "--log-level", "warning", "--workers", str(arguments.workers), "--http", http],
            cwd=cwd, env={**os.environ, **common, "BENCH_DATABASE_URL": libpq_url(database_url), **env},
            stdout=log_file(name), stderr=subprocess.STDOUT,
        )  # fmt: skip
        servers.append(Server(name, f"http://127.0.0.1:{port}", process, is_floor=factory.startswith("bench.floor")))

    uvicorn(API, "app.main:create_app")
    uvicorn(FLOOR, "bench.floor:create_app")
    if arguments.log_cost:
        uvicorn(LOG_ON, "app.main:create_app", ACCESS_LOG="true")
    if arguments.metrics_cost:
        uvicorn(METRICS_ON, "app.main:create_app", METRICS_ENABLED="true")
    tokens = AccessTokens(BENCH_SECRET_KEY.encode(), timedelta(hours=2))
    if arguments.token_cost:
        # The same API; every request carries a user's access token, which is checked (AUTH=open checks a
        # token that is sent); with AUTH=open every caller reaches every row, so the answers are the same.
        uvicorn(WITH_TOKEN, "app.main:create_app")
        servers[-1].authorization = f"Bearer {tokens.issue(1, is_admin=False)}"
    if arguments.admin_cost:
        # The same again with an admin's token (user 1 is made one in main()): each request also asks the
        # database whether they still are (app/auth/access.py), which is the cost measured.
        uvicorn(WITH_ADMIN_TOKEN, "app.main:create_app")
        servers[-1].authorization = f"Bearer {tokens.issue(1, is_admin=True)}"
    if arguments.pat_cost:
        # The same with user 1's personal access token (made in main()): one statement per request, as a JWT
        # request for an ordinary user has none.
        uvicorn(WITH_PERSONAL_TOKEN, "app.main:create_app")
        servers[-1].authorization = f"Bearer {BENCH_PERSONAL_TOKEN}"
    if arguments.without_heap_freeze:
        uvicorn(NO_FREEZE, "bench.variants:app_without_heap_freeze")
    if arguments.against:
        checkout, label = Path(arguments.against), Path(arguments.against).name
        if not checkout.is_dir():  # a git ref: its tree, as committed
            checkout, label = scratch / "against", arguments.against
            checkout.mkdir()
            archive = subprocess.run(
                ["git", "archive", arguments.against], cwd=PROJECT_ROOT, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive, check=True)
        uvicorn(f"api at {label}", "app.main:create_app", checkout)
    wait_until_serving(*((server.url, server.process) for server in servers))


def measure(
    scenario: Scenario,
    servers: list[Server],
    by_server: dict[str, list[Measurement]],
    arguments: argparse.Namespace,
    database_url: str,
) -> None:
    """Load one endpoint on every server, round by round, each round in a different order."""
    for round_number in range(arguments.rounds + 1):  # round 0 warms every server up
        shift = round_number % len(servers)
        for server in servers[shift:] + servers[:shift]:
            if scenario.ids == "each-once":
                scenario.id_range = fresh_stock_ids(database_url, 40_000)
            seconds = 1 if round_number == 0 else arguments.seconds
            cpu_before = process_tree_cpu_seconds(server.process.pid)
            measurement = wrk(
                server.url, scenario, server.path(scenario), seconds, arguments.connections, server.authorization
            )
            cpu = process_tree_cpu_seconds(server.process.pid) - cpu_before
            measurement.cpu_us_per_request = cpu / max(measurement.requests, 1) * 1e6
            if scenario.ids == "each-once":
                remove_stocks(database_url, scenario.id_range)
            if round_number:
                by_server[server.name].append(measurement)
            server.peak_rss_mb[-1] = max(server.peak_rss_mb[-1], process_tree_rss_mb(server.process.pid))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="1,000,000 stocks (10,000 users x 100) instead of 100,000")
    parser.add_argument("--workers", type=int, default=1, help="API and floor worker processes (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per endpoint, each server once (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--passes", type=int, default=1, help="run every endpoint this many times back to back")
    parser.add_argument("--log-cost", action="store_true", help="also the API with its request log on")
    parser.add_argument("--metrics-cost", action="store_true", help="also the API with METRICS_ENABLED=true")
    parser.add_argument("--token-cost", action="store_true", help="also the API sent a bearer token each request")
    parser.add_argument("--admin-cost", action="store_true", help="also the API sent an admin's token each request")
    parser.add_argument(
        "--pat-cost", action="store_true", help="also the API sent a personal access token each request"
    )
    parser.add_argument(
        "--without-heap-freeze", action="store_true", help="also the API without gc.freeze() after start-up"
    )
    parser.add_argument(
        "--against", metavar="GIT_REF", help="also the API as of this commit (e.g. HEAD~3) or in this directory"
    )
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
        size = DemoSize(users=users, stocks_per_user=stocks_per_user)
        fill_with_demo_data(database_url, size, seed=1, history=False)
        stocks = users * stocks_per_user
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            connection.execute("UPDATE users SET is_admin = true WHERE id = 1")  # for --admin-cost
            connection.execute(  # for --pat-cost
                "INSERT INTO personal_access_tokens (user_id, name, scopes, token_hash, prefix, expires_at)"
                " VALUES (1, 'bench', '{read,write}', %s, %s, now() + interval '1 day')",
                [personal_token_digest(BENCH_PERSONAL_TOKEN), BENCH_PERSONAL_TOKEN[:12]],
            )
            connection.execute("VACUUM ANALYZE")
            postgres_version = connection.execute("SHOW server_version").fetchone() or ("?",)

        servers: list[Server] = []
        try:
            start_servers(arguments, database_url, Path(scratch), servers)
            api, others = servers[0], servers[2:]
            order = [API, *(server.name for server in others), FLOOR]
            runs: dict[str, dict[str, list[Measurement]]] = {}
            chosen = [
                scenario
                for scenario in scenarios(api.url, stocks, users)
                if not arguments.only or any(part in scenario.name for part in arguments.only)
            ]
            for pass_number in range(arguments.passes):
                for server in servers:
                    server.peak_rss_mb.append(0.0)
                for scenario in chosen:
                    print(f"{scenario.name} ..." + (f" (pass {pass_number + 1})" if arguments.passes > 1 else ""))
                    by_server = runs.setdefault(scenario.name, {server.name: [] for server in servers})
                    measure(scenario, servers, by_server, arguments, database_url)
        finally:
            for server in servers:
                server.process.terminate()
                server.process.wait(30)

    summaries = {name: summarize(by_server) for name, by_server in runs.items()}
    print()
    print_table(summaries, order)
    comparisons = compare(summaries, others)
    for line in comparisons["lines"]:
        print(line)
    print()
    print("Peak RSS per process, MB, by pass: " + "; ".join(
        f"{server.name} {', '.join(f'{mb:.0f}' for mb in server.peak_rss_mb)}" for server in servers
    ))  # fmt: skip
    checks = bar_checks(summaries, chosen, api, comparisons)
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
                "load_average": os.getloadavg(),
                "postgres": postgres_version[0],
                "settings": vars(arguments) | {"users": users, "stocks": stocks, "wrk_threads": THREADS},
                "endpoints": summaries,
                "runs": {
                    name: {server: [asdict(m) for m in measurements] for server, measurements in by_server.items()}
                    for name, by_server in runs.items()
                },
                "peak_rss_mb_by_pass": {server.name: [round(mb, 1) for mb in server.peak_rss_mb] for server in servers},
                "log_cost": comparisons.get("log_cost"),
                "metrics_cost": comparisons.get("metrics_cost"),
                "token_cost": comparisons.get("token_cost"),
                "admin_cost": comparisons.get("admin_cost"),
                "pat_cost": comparisons.get("pat_cost"),
                "bars": checks,
            },
            indent=2,
        )
    )
    print(f"\nResults: {output.relative_to(PROJECT_ROOT)}")
    return 0


def compare(summaries: dict[str, dict[str, dict[str, Any]]], others: list[Server]) -> dict[str, Any]:
    """What the request log costs, and how the API moved against --against, endpoint by endpoint."""
    result: dict[str, Any] = {"lines": []}
    names = [server.name for server in others]
    if LOG_ON in names:
        # Measured twice: as requests/s lost (what the bar names, but as noisy
        # as the machine), and as the CPU each request costs the server more
        # (the same thing while the server's core is the limit, and steadier).
        by_rps = {name: 1 - servers[LOG_ON]["rps"] / servers[API]["rps"] for name, servers in summaries.items()}
        by_cpu = {
            name: 1 - servers[API]["cpu_us_per_request"] / servers[LOG_ON]["cpu_us_per_request"]
            for name, servers in summaries.items()
        }
        result["log_cost"] = {
            "by_endpoint_rps": {name: round(cost, 3) for name, cost in by_rps.items()},
            "by_endpoint_cpu": {name: round(cost, 3) for name, cost in by_cpu.items()},
            "mean_rps": round(statistics.mean(by_rps.values()), 3),
            "mean_cpu": round(statistics.mean(by_cpu.values()), 3),
        }
        for what, costs in (("requests/s", by_rps), ("CPU per request", by_cpu)):
            result["lines"].append(
                f"\nThe request log line, by {what}: "
                + ", ".join(f"{name} {cost:+.1%}" for name, cost in costs.items())
                + f"; mean {statistics.mean(costs.values()):+.1%}"
            )
    if METRICS_ON in names:
        costs = {name: 1 - servers[METRICS_ON]["rps"] / servers[API]["rps"] for name, servers in summaries.items()}
        p99s = {name: servers[METRICS_ON]["p99_ms"] / servers[API]["p99_ms"] - 1 for name, servers in summaries.items()}
        result["metrics_cost"] = {
            "by_endpoint": {name: round(cost, 3) for name, cost in costs.items()},
            "mean": round(statistics.mean(costs.values()), 3),
            "p99_change_by_endpoint": {name: round(change, 3) for name, change in p99s.items()},
        }
        result["lines"].append(
            "\nMetrics cost "
            + ", ".join(f"{name} {cost:+.1%}" for name, cost in costs.items())
            + f"; mean {result['metrics_cost']['mean']:+.1%} of throughput"
        )
    # A user's token against no token; an admin's against a user's (what the database's say on admin rights adds);
    # a personal access token against a user's JWT (what its lookup adds).
    for variant, baseline, key, label in (
        (WITH_TOKEN, API, "token_cost", "A bearer token"),
        (WITH_ADMIN_TOKEN, WITH_TOKEN if WITH_TOKEN in names else API, "admin_cost", "An admin's token, against {}"),
        (
            WITH_PERSONAL_TOKEN,
            WITH_TOKEN if WITH_TOKEN in names else API,
            "pat_cost",
            "A personal access token, against {}",
        ),
    ):
        if variant not in names:
            continue
        by_rps = {name: 1 - servers[variant]["rps"] / servers[baseline]["rps"] for name, servers in summaries.items()}
        by_cpu = {
            name: 1 - servers[baseline]["cpu_us_per_request"] / servers[variant]["cpu_us_per_request"]
            for name, servers in summaries.items()
        }
        p50s = {name: servers[variant]["p50_ms"] - servers[baseline]["p50_ms"] for name, servers in summaries.items()}
        result[key] = {
            "against": baseline,
            "by_endpoint_rps": {name: round(cost, 3) for name, cost in by_rps.items()},
            "by_endpoint_cpu": {name: round(cost, 3) for name, cost in by_cpu.items()},
            "p50_ms_added_by_endpoint": {name: round(added, 2) for name, added in p50s.items()},
        }
        for what, costs in (("requests/s", by_rps), ("CPU per request", by_cpu)):
            result["lines"].append(
                f"\n{label.format(baseline)}, by {what}: "
                + ", ".join(f"{name} {cost:+.1%}" for name, cost in costs.items())
            )
    for name in names:
        if name.startswith("api at "):
            result["against"] = name
            result["lines"].append(f"\nThe API against {name}: requests/s and p99")
            for endpoint, servers in summaries.items():
                now, then = servers[API], servers[name]
                rps_change, p99_change = now["rps"] / then["rps"] - 1, now["p99_ms"] / then["p99_ms"] - 1
                result["lines"].append(
                    f"  {endpoint:30} req/s {then['rps']:>6,} -> {now['rps']:>6,} ({rps_change:+.0%})"
                    f"   p99 {then['p99_ms']:>6.1f} -> {now['p99_ms']:>6.1f} ms ({p99_change:+.0%})"
                )
    return result


def bar_checks(
    summaries: dict[str, dict[str, dict[str, Any]]], chosen: list[Scenario], api: Server, comparisons: dict[str, Any]
) -> dict[str, bool]:
    checks = {}
    for scenario in chosen:
        row = summaries[scenario.name][API]
        if scenario.bar is not None:
            checks[f"{scenario.name}: {row['ratio']:.2f} x the floor's requests/s (bar {scenario.bar})"] = (
                row["ratio"] >= scenario.bar
            )
        if scenario.p99_bar is not None:
            checks[f"{scenario.name}: p99 {row['p99_ratio']:.2f} x the floor's (bar {scenario.p99_bar})"] = (
                row["p99_ratio"] <= scenario.p99_bar
            )
        failures = sum(server["non_2xx"] for server in summaries[scenario.name].values())
        if failures:
            checks[f"{scenario.name}: every answer a 2xx ({failures} were not)"] = False
    first = summaries.get("GET /stocks/?limit=100")
    deep = next((servers for name, servers in summaries.items() if name.startswith("GET /stocks/ from row")), None)
    if first and deep:
        ratio = deep[API]["p99_ms"] / first[API]["p99_ms"]
        checks[f"deep page p99 {ratio:.2f} x the first page's (bar 1.5)"] = ratio <= 1.5
    if "against" in comparisons:
        then = comparisons["against"]
        for name, servers in summaries.items():
            if name.split()[0] in ("POST", "PUT", "PATCH"):
                change = servers[API]["p99_ms"] / servers[then]["p99_ms"] - 1
                checks[f"{name}: p99 {change:+.0%} against {then} (bar: no worse, 10% for noise)"] = change <= 0.10
    if "token_cost" in comparisons:
        costs = comparisons["token_cost"]["by_endpoint_rps"]
        for name, cost in costs.items():
            if name.startswith("GET /users/"):
                checks[f"{name} with a bearer token: {cost:.1%} below without (bar {TOKEN_COST_BAR:.0%})"] = (
                    cost <= TOKEN_COST_BAR
                )
    if "log_cost" in comparisons:
        cost = comparisons["log_cost"]["mean_cpu"]
        checks[
            f"request log line: {cost:.1%} of throughput on average, by CPU per request "
            f"({comparisons['log_cost']['mean_rps']:.1%} by requests/s) (bar {LOG_COST_BAR:.0%})"
        ] = cost <= LOG_COST_BAR
    peak = max(api.peak_rss_mb)
    checks[f"API peak RSS {peak:.0f} MB per process (bar {RSS_BAR_MB})"] = peak < RSS_BAR_MB
    if len(api.peak_rss_mb) > 1:
        growth = api.peak_rss_mb[-1] / api.peak_rss_mb[0] - 1
        checks[f"API peak RSS {growth:+.1%} from the first pass to the last (bar {RSS_GROWTH_BAR:.0%})"] = (
            growth <= RSS_GROWTH_BAR
        )
    return checks


if __name__ == "__main__":
    sys.exit(main())
