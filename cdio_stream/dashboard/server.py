"""The dashboard's web server: one static page, a JSON snapshot, server-sent events, frames.

Routes:

* ``GET /``: the page (``static/index.html``: plain HTML + JS, no build step);
* ``GET /api/snapshot``: :meth:`DashboardView.snapshot` as JSON;
* ``GET /api/events``: the same snapshot as a server-sent event every ``interval_s``;
* ``GET /frame?stream=S&task=T``: the JPEG of task T of stream S while the sink holds it.

It runs on the event loop of the process that owns the view (the sink's Faust worker),
so it reads the view without locks; aiohttp is already a dependency of faust.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import resources

import orjson
from aiohttp import web

from cdio_stream.dashboard.view import DashboardView

__all__ = ["DashboardServer", "make_web_app"]

log = logging.getLogger(__name__)

_VIEW_KEY = web.AppKey("view", DashboardView)
_INTERVAL_KEY = web.AppKey("interval_s", float)


def _page() -> bytes:
    return resources.files("cdio_stream.dashboard").joinpath("static/index.html").read_bytes()


def _json(data: object) -> bytes:
    # orjson writes NaN and infinity as null: the page gets valid JSON whatever the metrics hold.
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


async def _index(request: web.Request) -> web.Response:
    return web.Response(body=_page(), content_type="text/html", charset="utf-8")


async def _snapshot(request: web.Request) -> web.Response:
    body = _json(request.app[_VIEW_KEY].snapshot())
    return web.Response(body=body, content_type="application/json", headers={"Cache-Control": "no-store"})


async def _events(request: web.Request) -> web.StreamResponse:
    view, interval = request.app[_VIEW_KEY], request.app[_INTERVAL_KEY]
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await resp.prepare(request)
    try:
        while True:
            await resp.write(b"data: " + _json(view.snapshot()) + b"\n\n")
            await asyncio.sleep(interval)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the browser went away, or the server stops
    return resp


async def _frame(request: web.Request) -> web.Response:
    stream, task = request.query.get("stream"), request.query.get("task")
    if not stream or not task:
        raise web.HTTPBadRequest(text="frame needs ?stream=ID&task=TASK_ID")
    jpeg = request.app[_VIEW_KEY].frame_jpeg(stream, task)
    if jpeg is None:
        raise web.HTTPNotFound(text=f"no frame {task!r} of stream {stream!r} held (any more)")
    # A task's frame never changes: the browser may keep it.
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


def make_web_app(view: DashboardView, *, interval_s: float = 1.0) -> web.Application:
    app = web.Application()
    app[_VIEW_KEY] = view
    app[_INTERVAL_KEY] = interval_s
    app.router.add_get("/", _index)
    app.router.add_get("/api/snapshot", _snapshot)
    app.router.add_get("/api/events", _events)
    app.router.add_get("/frame", _frame)
    return app


class DashboardServer:
    """Starts and stops the web app on ``host:port`` (0: any free port) inside the running loop."""

    def __init__(self, view: DashboardView, host: str, port: int, *, interval_s: float = 1.0) -> None:
        self.view = view
        self.host = host
        self.port = port
        self.interval_s = interval_s
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        # shutdown_timeout: open event streams must not hold up a worker's shutdown.
        self._runner = web.AppRunner(
            make_web_app(self.view, interval_s=self.interval_s), shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]  # the one the OS chose for port 0
        log.info("dashboard at %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
