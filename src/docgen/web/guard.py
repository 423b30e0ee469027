"""What keeps the public site safe: strict response headers, and a per-client upload limit."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RateLimiter", "SecurityHeaders"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""No script at all, inline or not; styles and images from the site only; never framed."""

_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)


class SecurityHeaders:
    """ASGI middleware adding strict security headers to every response.

    A verification answer is about one letter at one moment: it is never cached by a browser
    or a proxy (``Cache-Control: no-store``) unless the route set its own (the style sheet).
    """

    def __init__(self, app: ASGIApp):
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``scope`` through the wrapped app, adding the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _HEADERS if h[0] not in present)
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class RateLimiter:
    """At most ``per_minute`` events per client in any minute (a token bucket); thread-safe.

    Clients are kept in a bounded table (least recently seen dropped first), so a flood of
    addresses cannot grow it without limit.
    """

    def __init__(self, per_minute: int, *, clients: int = 10_000):
        """Allow ``per_minute`` events per client, tracking at most ``clients`` clients."""
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._clients = clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> float:
        """Take one event for ``client``: 0 when allowed, else the seconds until it would be."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(client, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self._rate
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self._clients:
                self._buckets.popitem(last=False)
            return wait
