"""Admin and API docs keep their styles in production: DJANGO_DEBUG=0 under gunicorn, static
files from `collectstatic`'s output served by WhiteNoise."""

import re
import urllib.request
from collections.abc import Iterator

import pytest

from tests.processes import manage_py, migrate, serving

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("production")
    environment = {
        "DJANGO_SECRET_KEY": "production-like-test-secret",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_STATIC_ROOT": str(workdir / "static"),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
    }
    migrate(**environment)
    manage_py("collectstatic", "--noinput", "-v0", **environment)
    with serving(
        ["-m", "gunicorn", "apiproject.wsgi", "-b", "127.0.0.1:{port}", "-w", "1"], **environment
    ) as base_url:
        yield base_url


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read()


@pytest.mark.parametrize("page", ["/admin/login/", "/api/docs"])
def test_page_assets_are_served_with_debug_off(production_server, page):
    status, _, body = fetch(production_server + page)
    assets = ASSET.findall(body.decode())

    assert status == 200
    assert any(asset.endswith(".css") for asset in assets)
    for asset in assets:
        asset_status, content_type, content = fetch(production_server + asset)
        assert asset_status == 200, asset
        assert content, asset
        if asset.endswith(".css"):
            assert content_type.startswith("text/css"), asset


def test_asset_names_are_hashed_for_long_caching(production_server):
    _, _, body = fetch(production_server + "/admin/login/")

    stylesheet = next(
        a for a in ASSET.findall(body.decode()) if a.endswith("base.css") or ".css" in a
    )

    assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet)
