"""Headless Chromium driven over the DevTools protocol, with aiohttp's websocket client.

No browser-automation package: playwright and selenium download browsers or drivers of
their own, and Debian's ``chromium`` speaks the DevTools protocol itself. Started with a
fresh empty profile and everything that would reach the network switched off.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.external import find_binary

__all__ = ["find_chromium", "Chromium"]


def find_chromium() -> str:
    """The browser binary; skips the test without one, fails it under CI=true (CI installs it)."""
    return find_binary(
        ("chromium", "chromium-browser"),
        "CDIO_CHROMIUM",
        "install it with `apt-get install -y chromium` (Debian)",
    )


FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class Chromium:
    """``async with Chromium(binary) as page:`` gives one page; ``page.evaluate(js)`` etc."""

    def __init__(
        self, binary: str, *, width: int = 1400, height: int = 1600, timeout_s: float = 60.0
    ) -> None:
        self.binary = binary
        self.width, self.height = width, height
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory(prefix="cdio-chromium-")
        self.proc = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-port=0",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        port = await self._devtools_port(Path(self._profile.name) / "DevToolsActivePort")
        self._http = aiohttp.ClientSession()
        async with self._http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await self._http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=64 << 20)
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for close in (getattr(self, "_ws", None), getattr(self, "_http", None)):
            if close is not None:
                await close.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._profile.cleanup()

    async def _devtools_port(self, path: Path) -> int:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"chromium exited with {self.proc.returncode}: {self.proc.stderr.read().decode()[-2000:]}"
                )
            if path.is_file() and path.read_text().strip():
                return int(path.read_text().split()[0])
            await asyncio.sleep(0.1)
        raise TimeoutError(f"chromium wrote no {path.name} in {self.timeout_s:.0f} s")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; returns its result (events in between are skipped)."""
        msg_id = next(self._ids)
        await self._ws.send_json({"id": msg_id, "method": method, "params": params})
        deadline = time.monotonic() + self.timeout_s
        while True:
            msg = await self._ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    async def goto(self, url: str) -> None:
        """Navigate and wait until the new document has loaded."""
        await self.send("Page.navigate", url=url)
        await self.wait_for(f"location.href === {url!r} && document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 60.0, poll_s: float = 0.25) -> Any:
        """Evaluate until the value is truthy; returns it. A script error counts as not yet
        (the page may still be loading), and is shown if it never comes true."""
        deadline = time.monotonic() + timeout_s
        guarded = f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return 'error: ' + e; }} }})()"
        while True:
            value = await self.evaluate(guarded)
            failed = isinstance(value, str) and value.startswith("error: ")
            if value and not failed:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"page never satisfied {expression!r} in {timeout_s:.0f} s (last: {value!r})"
                )
            await asyncio.sleep(poll_s)

    async def screenshot(self, path: Path) -> bytes:
        """PNG of the whole page (not just the window) to ``path``."""
        size = await self.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        shot = await self.send(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
        )  # fmt: skip
        data = base64.b64decode(shot["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data
