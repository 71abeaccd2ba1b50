"""The dashboard's web server over real HTTP (aiohttp's test server on a loopback port)."""

from __future__ import annotations

import asyncio
import re

import orjson
from aiohttp.test_utils import TestClient, TestServer

from cdio_stream.dashboard.server import DashboardServer, _page, make_web_app


def run_client(view, check):
    async def main():
        async with TestClient(TestServer(make_web_app(view, interval_s=0.05))) as client:
            await check(client)

    asyncio.run(main())


def test_page_snapshot_and_frame(view_factory, result_factory, jpeg_factory):
    view, metrics, _ = view_factory()
    jpeg = jpeg_factory(seed=3)
    view.add_frame("cam 1", "cam 1/4", jpeg)  # a stream id that needs URL quoting
    r = result_factory(stream="cam 1", frame_no=4)
    metrics.add(r)
    view.add_result(r)

    async def check(client):
        page = await client.get("/")
        assert page.status == 200 and page.content_type == "text/html"
        assert 'new EventSource("/api/events")' in await page.text()

        snap = await client.get("/api/snapshot")
        assert snap.status == 200 and snap.content_type == "application/json"
        body = await snap.json()
        expected = orjson.loads(orjson.dumps(view.snapshot()))
        body.pop("now"), expected.pop("now")
        assert body == expected
        assert body["streams"][0]["frame"]["task_id"] == "cam 1/4"

        img = await client.get("/frame", params={"stream": "cam 1", "task": "cam 1/4"})
        assert img.status == 200 and img.content_type == "image/jpeg"
        assert await img.read() == jpeg
        missing = await client.get("/frame", params={"stream": "cam 1", "task": "cam 1/99"})
        assert missing.status == 404 and "cam 1/99" in await missing.text()
        assert (await client.get("/frame")).status == 400

    run_client(view, check)


def test_events_stream_snapshots(view_factory, result_factory):
    view, metrics, _ = view_factory()

    async def check(client):
        resp = await client.get("/api/events")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = orjson.loads((await resp.content.readline()).removeprefix(b"data: "))
        assert first["run"]["tasks"] == 0
        r = result_factory(frame_no=9)
        metrics.add(r)
        view.add_result(r)
        while True:  # the next events show the new result
            line = await resp.content.readline()
            if line.startswith(b"data: ") and orjson.loads(line[6:])["run"]["tasks"] == 1:
                break
        resp.close()

    run_client(view, check)


def test_page_shows_every_run_figure_of_the_snapshot(view_factory):
    """A figure added to the snapshot but not to the page would silently never show."""
    view, _, _ = view_factory()
    page = _page().decode()
    tiles = set(re.findall(r'^\s*\["(\w+)", "', page, flags=re.M))
    assert tiles == set(view.snapshot()["run"])
    for key in (
        "tasks",
        "share",
        "tasks_per_s",
        "queue",
        "accuracy_success",
        "delay_success",
        "expired_share",
    ):
        assert f'cell("{key}"' in page, key
        assert key in view.snapshot()["servers"][0]


def test_server_on_a_free_port_reports_its_url(view_factory):
    view, _, _ = view_factory()

    async def main():
        server = DashboardServer(view, "127.0.0.1", 0)
        await server.start()
        try:
            assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/"
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /api/snapshot HTTP/1.0\r\n\r\n")
            head = await reader.readline()
            writer.close()
            assert head.startswith(b"HTTP/1.") and b" 200 " in head
        finally:
            await server.stop()

    asyncio.run(main())
