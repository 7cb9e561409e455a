"""The documentation pages work on a closed network: nothing is loaded from another host."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def _page_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    # Swagger UI's page names its assets inside a script as well as in tags.
    for quoted in html.split("'")[1::2] + html.split('"')[1::2]:
        if quoted.startswith(("http://", "https://", "//", "/")):
            parser.urls.append(quoted)
    return parser.urls


@pytest.mark.parametrize(
    ("page", "expected_assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}),
        ("/redoc", {"redoc.standalone.js"}),
    ],
)
def test_docs_page_loads_every_asset_from_the_service(
    client: httpx.Client, page: str, expected_assets: set[str]
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    urls = _page_urls(response.text)
    foreign = [url for url in urls if urlsplit(url).netloc]
    assert foreign == [], f"{page} loads from another host"
    assets = [url for url in urls if url.startswith("/assets/")]
    assert {url.rsplit("/", 1)[-1] for url in assets} >= expected_assets
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
        assert asset.headers["cache-control"].startswith("public")
        # Validators let a town-hall PC revalidate instead of downloading again.
        again = client.get(url, headers={"If-None-Match": asset.headers["etag"]})
        assert again.status_code == 304


def test_only_the_listed_asset_packages_are_served(client: httpx.Client) -> None:
    for path in ("/assets/@foundry-rs/anvil/package.json", "/assets/swagger-ui-dist/../solc/x"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
