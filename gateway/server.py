"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools protocol with a bound on the request head.

httptools (llhttp) parses about twice as fast as h11 (docs/performance/gateway.md), but uvicorn's
httptools protocol buffers a request line and headers of any size: a client could send megabytes of
headers and the gateway would hold them all before any check ran. h11 has a bound
(`--h11-max-incomplete-event-size`); this is the same bound for httptools. Bytes that arrive while
a request head is still incomplete are counted, and once they pass `max_request_head_bytes()` the
server answers 400 and closes the connection before the app sees anything.

Like h11's, the check runs between reads: a head that arrives complete in one read (at most the
event loop's read size, 256 KiB) passes to the app, whose URL and header limits (gateway/limits.py)
then answer 414 or 431. Run with `uvicorn --http gateway.server:BoundedHttpToolsProtocol`.

It also keeps an absolute-form request target whole in the scope, as h11 does (see below).
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import unquote

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.settings import get_settings

# Room for the request line's method, version and line ends around the URL, and the blank line.
HEAD_OVERHEAD_BYTES = 1024
# Never below what the gateway has always allowed (the h11 bound of devstack/stack.py before).
MIN_REQUEST_HEAD_BYTES = 32_768


@cache
def max_request_head_bytes() -> int:
    """The largest head the server buffers: above MAX_URL_BYTES + MAX_HEADER_BYTES, so a moderately
    oversized request still gets the app's readable 414 or 431 rather than a bare 400."""
    settings = get_settings()
    return max(
        MIN_REQUEST_HEAD_BYTES, settings.max_url_bytes + settings.max_header_bytes + HEAD_OVERHEAD_BYTES
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_limit = max_request_head_bytes()
        self._in_head = False  # from the first byte of a request until its headers are complete
        self._head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
        if not self.url.startswith(b"/") and "path" in self.scope:
            # An absolute-form target (`GET http://host/path`): httptools hands over only its path,
            # which would make the gateway a forward proxy of sorts. Keep the target whole, as h11
            # does, so the canonical-path check (gateway/canonical.py) refuses it. The app's task
            # has been created but has not run yet.
            target = self.url.partition(b"?")[0]
            self.scope["raw_path"] = target
            self.scope["path"] = unquote(target.decode("latin-1"))

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        # The whole read counts, also what belonged to the request before: a slight overcount, on
        # the safe side.
        self._head_bytes += len(data)
        if self._head_bytes > self._head_limit:
            self.send_400_response("Request head too large.")
