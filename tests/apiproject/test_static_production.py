"""Admin and API docs keep their styles in production: DJANGO_DEBUG=0 under gunicorn, static
files from `collectstatic`'s output served by WhiteNoise."""

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.processes import PROJECT_DIR, free_port, project_environment

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("production")
    env = project_environment(
        DJANGO_SECRET_KEY="production-like-test-secret",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_STATIC_ROOT=str(workdir / "static"),
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
    )
    for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=PROJECT_DIR, env=env, check=True
        )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "apiproject.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=10)


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
