"""A path one slash away from an endpoint: `curl localhost:8000/users` gets the list, not an empty 307."""

import pytest
from httpx import AsyncClient

from app.core.config import Settings
from app.main import create_app
from tests.helpers import create_stock, create_user


@pytest.mark.parametrize("path", ["/users", "/stocks"])
async def test_a_get_without_the_slash_is_answered_as_with_it(client: AsyncClient, path: str) -> None:
    user = await create_user(client)
    await create_stock(client, user["id"])
    slashless = await client.get(path, follow_redirects=False)
    canonical = await client.get(path + "/")
    assert slashless.status_code == 200
    assert slashless.json() == canonical.json()
    head = await client.head(path, follow_redirects=False)
    assert head.status_code == 200
    assert head.content == b""


async def test_a_get_with_a_slash_too_many_is_answered_too(client: AsyncClient) -> None:
    user = await create_user(client)
    answer = await client.get(f"/users/{user['id']}/", follow_redirects=False)
    assert answer.status_code == 200
    assert answer.json() == (await client.get(f"/users/{user['id']}")).json()


@pytest.mark.parametrize(
    ("path", "body"),
    [("/users", {"name": "Ada Lovelace"}), ("/stocks", {"symbol": "AAPL", "price": "1.00", "quantity": 1})],
)
async def test_a_post_without_the_slash_is_redirected_with_a_body_naming_the_url(
    client: AsyncClient, path: str, body: dict[str, object]
) -> None:
    answer = await client.post(path, json=body, follow_redirects=False)
    assert answer.status_code == 307  # keeps the method and the body
    assert answer.headers["location"] == f"http://test{path}/"
    assert answer.json() == {
        "detail": f"The URL is http://test{path}/; send the request there (this 307 keeps the method and body)"
    }


async def test_a_page_without_the_slash_is_still_redirected(client: AsyncClient) -> None:
    # The pages' relative links need their canonical URL.
    answer = await client.get("/app", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "http://test/app/"
    assert "http://test/app/" in answer.json()["detail"]


async def test_an_unknown_path_is_still_a_404(client: AsyncClient) -> None:
    assert (await client.get("/nowhere", follow_redirects=False)).status_code == 404
    assert (await client.get("/nowhere/", follow_redirects=False)).status_code == 404


def test_the_openapi_lists_each_path_once(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]
    assert "/users/" in paths
    assert "/users" not in paths
    assert "/stocks" not in paths
