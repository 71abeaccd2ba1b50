"""The live dashboard of a running pipeline: a view fed by the sink and a small web server.

:mod:`.view` is broker-free (what the page shows); :mod:`.server` serves it with aiohttp
(``static/index.html``, a JSON snapshot, server-sent events and the frames).
"""

from cdio_stream.dashboard.view import DashboardView

__all__ = ["DashboardView"]
