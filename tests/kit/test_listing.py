"""Lists: filters, sorting, totals on request, and Link: next walks that see every row once."""

import re
from typing import Any

import pytest
from httpx import AsyncClient, Response

from tests.helpers import create_stock, create_user, error_locations

NEXT_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def next_url(response: Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = NEXT_LINK.match(link)
    assert match, link
    return match["url"]


def the_next_url(response: Response) -> str:
    """The next page's URL, which must be there."""
    following = next_url(response)
    assert following is not None, "no Link: rel=next"
    return following


async def walk(client: AsyncClient, url: str, params: dict | None = None, between_pages=None) -> list[dict]:
    """Every row, following Link: next to the end; `between_pages` runs after each page."""
    rows: list[dict] = []
    response = await client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        rows.extend(response.json())
        if between_pages is not None:
            await between_pages()
        following = next_url(response)
        if following is None:
            return rows
        response = await client.get(following)


@pytest.fixture
async def holdings(client: AsyncClient) -> dict[str, Any]:
    """Two users and six stocks with distinct symbols, prices and activity."""
    alice = await create_user(client, name="Alice Doe", age=41)
    bob = await create_user(client, name="Bob Stone", age=None)
    carol = await create_user(client, name="Carol 100%_Doe", age=25)
    stocks = [
        await create_stock(client, alice["id"], name="AAPL", price=175.5, quantity=10),
        await create_stock(client, alice["id"], name="MSFT", price=410.25, quantity=3, is_active=False),
        await create_stock(client, bob["id"], name="AAPL", price=180, quantity=2),
        await create_stock(client, bob["id"], name="BRK.B", price=0.5, quantity=100),
        await create_stock(client, alice["id"], name="GOOG", price=99.99, quantity=7),
        await create_stock(client, bob["id"], name="TSLA", price=250, quantity=1, is_active=False),
    ]
    return {"users": [alice, bob, carol], "stocks": stocks}


def ids(rows: list[dict]) -> list[int]:
    return [row["id"] for row in rows]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [0, 1, 2, 3, 4, 5]),
        ({"name": "aapl"}, [0, 2]),
        ({"name": " AAPL "}, [0, 2]),
        ({"is_active": "false"}, [1, 5]),
        ({"is_active": "true", "min_price": 100}, [0, 2]),
        ({"min_price": "99.99", "max_price": 250}, [0, 2, 4, 5]),
        ({"max_price": 0.5}, [3]),
        ({"min_price": 1000}, []),
        ({"min_price": 500, "max_price": 1}, []),
    ],
)
async def test_stock_filters_combine(client: AsyncClient, holdings: dict, params: dict, expected: list[int]) -> None:
    response = await client.get("/stocks/", params=params)
    assert response.status_code == 200
    assert ids(response.json()) == [holdings["stocks"][index]["id"] for index in expected]


async def test_stocks_filter_by_user_and_the_users_list_takes_the_same_filters(
    client: AsyncClient, holdings: dict
) -> None:
    alice, bob, _ = holdings["users"]
    stocks = holdings["stocks"]
    by_user = await client.get("/stocks/", params={"user_id": bob["id"], "is_active": "true"})
    assert ids(by_user.json()) == [stocks[2]["id"], stocks[3]["id"]]
    alices = await client.get(f"/users/{alice['id']}/stocks/", params={"min_price": 100, "is_active": "true"})
    assert ids(alices.json()) == [stocks[0]["id"]]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("id", [0, 1, 2, 3, 4, 5]),
        ("-id", [5, 4, 3, 2, 1, 0]),
        ("price", [3, 4, 0, 2, 5, 1]),
        ("-price", [1, 5, 2, 0, 4, 3]),
        ("name", [0, 2, 3, 4, 1, 5]),  # AAPL, AAPL (by id), BRK.B, GOOG, MSFT, TSLA
        ("-name", [5, 1, 4, 3, 2, 0]),  # ties by id, descending too
        ("created_at", [0, 1, 2, 3, 4, 5]),
        ("-created_at", [5, 4, 3, 2, 1, 0]),
    ],
)
async def test_stocks_sort_by_each_field_both_ways(
    client: AsyncClient, holdings: dict, sort: str, expected: list[int]
) -> None:
    response = await client.get("/stocks/", params={"sort": sort})
    assert ids(response.json()) == [holdings["stocks"][index]["id"] for index in expected]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", [0, 1, 2]),
        ("-name", [2, 1, 0]),
        ("age", [2, 0, 1]),  # no age comes last
        ("-age", [0, 2, 1]),
        ("-signup_ts", [2, 1, 0]),
    ],
)
async def test_users_sort_by_their_fields_with_missing_ages_last(
    client: AsyncClient, holdings: dict, sort: str, expected: list[int]
) -> None:
    response = await client.get("/users/", params={"sort": sort})
    assert ids(response.json()) == [holdings["users"][index]["id"] for index in expected]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("doe", [0, 2]), ("DOE", [0, 2]), ("b st", [1]), ("100%_", [2]), ("%", [2]), ("_", [2]), ("zzz", [])],
)
async def test_users_filter_by_a_case_insensitive_part_of_the_name(
    client: AsyncClient, holdings: dict, name: str, expected: list[int]
) -> None:
    response = await client.get("/users/", params={"name": name})
    assert ids(response.json()) == [holdings["users"][index]["id"] for index in expected]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/stocks/", "'id', '-id', 'name', '-name', 'price', '-price', 'created_at' or '-created_at'"),
        ("/users/", "'id', '-id', 'name', '-name', 'age', '-age', 'signup_ts' or '-signup_ts'"),
    ],
)
async def test_an_unknown_sort_is_a_422_listing_the_allowed_values(
    client: AsyncClient, path: str, allowed: str
) -> None:
    response = await client.get(path, params={"sort": "quantity"})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["location"] == ["query", "sort"]
    assert error["message"] == f"Input should be {allowed}"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "-1"}, "min_price"),
        ({"max_price": "cheap"}, "max_price"),
        ({"min_price": "1e400"}, "min_price"),
        ({"max_price": "NaN"}, "max_price"),
        ({"is_active": "perhaps"}, "is_active"),
        ({"user_id": "0"}, "user_id"),
        ({"user_id": "2147483648"}, "user_id"),
        ({"name": "BRK B"}, "name"),
    ],
)
async def test_bad_filters_are_422s_naming_the_parameter(client: AsyncClient, params: dict, field: str) -> None:
    response = await client.get("/stocks/", params=params)
    assert response.status_code == 422
    assert error_locations(response.json()) == [("query", field)]


async def test_totals_are_counted_only_when_asked(client: AsyncClient, holdings: dict) -> None:
    plain = await client.get("/stocks/", params={"limit": 2})
    assert "x-total-count" not in plain.headers
    counted = await client.get("/stocks/", params={"limit": 2, "is_active": "true"}, headers={"Prefer": "count=exact"})
    assert counted.headers["x-total-count"] == "4"
    assert counted.headers["preference-applied"] == "count=exact"
    assert len(counted.json()) == 2
    several = await client.get("/users/", headers={"Prefer": "return=minimal, count=exact"})
    assert several.headers["x-total-count"] == "3"
    alice = holdings["users"][0]
    theirs = await client.get(f"/users/{alice['id']}/stocks/", headers={"Prefer": "count=exact"})
    assert theirs.headers["x-total-count"] == "3"


async def test_the_last_page_has_no_next_link(client: AsyncClient, holdings: dict) -> None:
    assert "link" not in (await client.get("/stocks/")).headers
    assert "link" not in (await client.get("/stocks/", params={"limit": 6})).headers
    assert next_url(await client.get("/stocks/", params={"limit": 5})) is not None


@pytest.mark.parametrize("sort", ["id", "-id", "price", "-price", "name", "-name", "created_at", "-created_at"])
async def test_following_next_sees_every_row_once_in_order(client: AsyncClient, holdings: dict, sort: str) -> None:
    everything = (await client.get("/stocks/", params={"sort": sort})).json()
    walked = await walk(client, "/stocks/", {"sort": sort, "limit": 2})
    assert walked == everything


@pytest.mark.parametrize("sort", ["age", "-age", "name"])
async def test_following_next_through_users_with_missing_ages(client: AsyncClient, holdings: dict, sort: str) -> None:
    for n in range(4):
        await create_user(client, name=f"Extra {n}", age=None if n % 2 else 41)
    everything = (await client.get("/users/", params={"sort": sort})).json()
    assert await walk(client, "/users/", {"sort": sort, "limit": 1}) == everything


async def test_next_links_keep_the_filters(client: AsyncClient, holdings: dict) -> None:
    walked = await walk(client, "/stocks/", {"name": "aapl", "limit": 1})
    assert ids(walked) == [holdings["stocks"][0]["id"], holdings["stocks"][2]["id"]]


async def test_a_walk_sees_every_row_once_while_rows_are_added(client: AsyncClient) -> None:
    user = await create_user(client)
    original = [await create_stock(client, user["id"], name=f"S{n}", price=n + 1) for n in range(7)]
    added: list[dict] = []

    async def add_one() -> None:
        added.append(await create_stock(client, user["id"], name=f"NEW{len(added)}", price=0.5))

    walked = await walk(client, "/stocks/", {"limit": 3}, between_pages=add_one)
    walked_ids = ids(walked)
    assert len(walked_ids) == len(set(walked_ids))  # nothing twice
    assert walked_ids == sorted(walked_ids)  # in id order, the added rows after the originals
    assert walked_ids[: len(original)] == ids(original)  # nothing missed
    # sorted by price, the new cheap rows sort before the cursor: none is seen, none repeats
    by_price = await walk(client, "/stocks/", {"limit": 3, "sort": "price"}, between_pages=add_one)
    assert len(ids(by_price)) == len(set(ids(by_price)))
    assert set(ids(original)) <= set(ids(by_price))


async def test_skip_still_works_with_links(client: AsyncClient, holdings: dict) -> None:
    first = await client.get("/stocks/", params={"skip": 1, "limit": 2})
    assert ids(first.json()) == ids(holdings["stocks"][1:3])
    following = the_next_url(first)
    assert "skip" not in following
    assert ids((await client.get(following)).json()) == ids(holdings["stocks"][3:5])


# The last two name row ids no row can have: 2**40 and 0 (["id",1,1099511627776] and ["id",1,0]).
@pytest.mark.parametrize(
    "cursor",
    ["garbage", "", "e30", "WyJpZCIsMSwiYSJd", "WyJpZCIsMSwxLDFd", "x" * 600, "WyJpZCIsMSwxMDk5NTExNjI3Nzc2XQ",
     "WyJpZCIsMSwwXQ"],
)  # fmt: skip
async def test_a_cursor_this_api_did_not_make_is_a_422(client: AsyncClient, cursor: str) -> None:
    response = await client.get("/stocks/", params={"cursor": cursor})
    assert response.status_code == 422
    assert error_locations(response.json()) == [("query", "cursor")]


async def test_a_cursor_from_another_sort_is_a_422_saying_so(client: AsyncClient, holdings: dict) -> None:
    following = the_next_url(await client.get("/stocks/", params={"limit": 1, "sort": "price"}))
    response = await client.get(following.replace("sort=price", "sort=name"))
    assert response.status_code == 422
    assert "made for sort=price, not sort=name" in response.json()["errors"][0]["message"]
