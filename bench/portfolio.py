"""The valuation's budget: server time of a 3-year daily performance and of a portfolio as of today.

    python -m bench.portfolio [--requests 30] [--app-dir DIR] [--plain-only]

Starts `python -m app` as `make run` does (an embedded PostgreSQL in a
temporary directory, AUTH=open, JSON logs), gives one user 50 holdings with
500 ledger entries (50 opening buys, then buys, sells, dividends, fees and a
few splits, posted in date order) over three years of weekday closes for
each symbol (imported as CSV), then requests, one at a time,
GET /users/{id}/portfolio (no as_of: the guide's answer), ?as_of=today, and
GET /users/{id}/performance over the three years, day by day. Each request's
server time is read from its request-log line (`duration_ms`). A measurement,
not a test.

`--app-dir` serves another checkout (`--app-dir /work/main --plain-only`
measures the portfolio without as_of before this change, on the same data).
"""

import argparse
import random
import statistics
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

from app.core.config import PROJECT_ROOT
from bench.servers import app_with_request_log

SERVER_TIME_BUDGET_MS = 100
HOLDINGS = 50
ENTRIES = 500  # the opening buys included
YEARS = 3
WARM_UP = 5


def weekday_closes(rng: random.Random, first: date, last: date) -> dict[date, Decimal]:
    """A random walk from 100, one close each weekday, 4 decimal places."""
    closes: dict[date, Decimal] = {}
    price = 100.0
    day = first
    while day <= last:
        if day.weekday() < 5:
            price = max(1.0, price * (1 + rng.gauss(0.0003, 0.015)))
            closes[day] = Decimal(f"{price:.4f}")
        day += timedelta(days=1)
    return closes


def close_on(closes: dict[date, Decimal], day: date) -> Decimal:
    while day not in closes:
        day -= timedelta(days=1)
    return closes[day]


def make_portfolio(client: httpx.Client, rng: random.Random, first: date, last: date) -> int:
    user_id: int = client.post("/users/", json={"name": "Valuation Bench"}).json()["id"]
    symbols = [f"S{number:02d}" for number in range(HOLDINGS)]
    closes = {symbol: weekday_closes(rng, first - timedelta(days=7), last) for symbol in symbols}
    for symbol in symbols:
        csv = "Date,Close\n" + "".join(f"{day.isoformat()},{price}\n" for day, price in closes[symbol].items())
        response = client.post(f"/prices/import?symbol={symbol}", content=csv, headers={"Content-Type": "text/csv"})
        assert response.status_code == 200, response.text
    stock_ids: dict[str, int] = {}
    held: dict[str, int] = {}
    for symbol in symbols:
        body = {"name": symbol, "price": float(close_on(closes[symbol], first)), "quantity": 100}
        response = client.post(f"/users/{user_id}/stocks/", json={**body, "acquired_on": first.isoformat()})
        assert response.status_code == 201, response.text
        stock_ids[symbol], held[symbol] = response.json()["id"], 100
    span = (last - first).days
    days = sorted(first + timedelta(days=rng.randint(1, span)) for _ in range(ENTRIES - HOLDINGS))
    for day in days:
        symbol = rng.choice(symbols)
        price = float(close_on(closes[symbol], day))
        kind = rng.choices(["buy", "sell", "dividend", "fee", "split"], [55, 25, 14, 5, 1])[0]
        entry: dict[str, object] = {"type": kind, "occurred_on": day.isoformat()}
        if kind == "buy":
            quantity = rng.randint(1, 50)
            entry |= {"quantity": quantity, "price": price, "fee": round(rng.uniform(0, 5), 2)}
            held[symbol] += quantity
        elif kind == "sell" and held[symbol] > 1:
            quantity = rng.randint(1, held[symbol] // 2)
            entry |= {"quantity": quantity, "price": price, "fee": round(rng.uniform(0, 5), 2)}
            held[symbol] -= quantity
        elif kind == "split":
            entry |= {"ratio": 2}
            held[symbol] *= 2
        else:
            entry = {"type": kind, "occurred_on": day.isoformat(), "amount": round(rng.uniform(1, 50), 2)}
        response = client.post(f"/stocks/{stock_ids[symbol]}/transactions", json=entry)
        assert response.status_code == 201, response.text
    return user_id


def summary(durations: list[float]) -> str:
    ordered = sorted(durations)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    verdict = "within" if p95 < SERVER_TIME_BUDGET_MS else "OVER"
    figures = f"median {statistics.median(ordered):6.1f} ms, p95 {p95:6.1f} ms, max {ordered[-1]:6.1f} ms"
    return f"{figures}  ({verdict} {SERVER_TIME_BUDGET_MS} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.portfolio", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help=f"requests measured per scenario (after {WARM_UP})")
    parser.add_argument("--app-dir", type=Path, default=PROJECT_ROOT, help="the checkout to serve")
    parser.add_argument("--plain-only", action="store_true", help="only GET /users/{id}/portfolio, without as_of")
    arguments = parser.parse_args()
    last = date.today()
    first = last - timedelta(days=365 * YEARS)
    scenarios = {
        "portfolio (no as_of)": ("/users/{user_id}/portfolio", {}),
        "portfolio?as_of=today": ("/users/{user_id}/portfolio", {"as_of": last.isoformat()}),
        f"performance, {YEARS} years daily": (
            "/users/{user_id}/performance",
            {"from": (first + timedelta(days=1)).isoformat(), "to": last.isoformat()},
        ),
    }
    if arguments.plain_only:
        scenarios = dict(list(scenarios.items())[:1])

    routes = {route for route, _ in scenarios.values()}
    with app_with_request_log(arguments.app_dir, "valuation-budget-") as server:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            user_id = make_portfolio(client, random.Random(20), first, last)
            for route, params in scenarios.values():
                for _ in range(WARM_UP + arguments.requests):
                    response = client.get(route.format(user_id=user_id), params=params)
                    assert response.status_code == 200, response.text
            last_answer = client.get(route.format(user_id=user_id), params=params).json()
            sample = {} if arguments.plain_only else last_answer
        lines = [line for line in server.request_lines() if line.get("method") == "GET" and line.get("route") in routes]

    print(f"{HOLDINGS} holdings, {ENTRIES} ledger entries, {YEARS} years of weekday closes; server time (request log):")
    within = True
    for position, name in enumerate(scenarios):
        measured = lines[position * (WARM_UP + arguments.requests) : (position + 1) * (WARM_UP + arguments.requests)]
        durations = [line["duration_ms"] for line in measured[WARM_UP:]]
        print(f"  {name:<28} {summary(durations)}")
        within &= sorted(durations)[max(0, round(len(durations) * 0.95) - 1)] < SERVER_TIME_BUDGET_MS
    if not arguments.plain_only:
        points = len(sample.get("series", []))
        print(f"  (performance: {points} points, twr {sample.get('twr')}, xirr {sample.get('xirr')})")
    print("within budget" if within else "OVER BUDGET")
    sys.exit(0 if within else 1)


if __name__ == "__main__":
    main()
