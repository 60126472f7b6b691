"""The plumbing of the REST client: connection, auth header, error mapping (``ClientError``).

``ClientBase`` owns the HTTP connection and turns non-2xx answers into ``ClientError``; the
route methods live in ``http.AgentPostClient`` and, one area each, in mixins of this base
(each mixin subclasses ``ClientBase`` and adds the calls of its area).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:3100"
API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0
# The server pings every 15 s; three missed pings mean the stream is dead.
EVENTS_READ_TIMEOUT = 45.0
WAIT_GRACE = 15.0


class ClientError(Exception):
    """The API refused a call: ``status`` (HTTP), ``code`` (stable) and a readable message."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        where = f", field {self.field}" if self.field else ""
        return f"{self.message} (HTTP {self.status}, code {self.code}{where})"


class APIUnavailable(ClientError):
    """No answer at all: connection refused, DNS failure or a timeout (``status`` is 0)."""


def api_base(url: str) -> str:
    """The REST base for a server URL; a URL that already names an API prefix is kept."""
    url = url.rstrip("/")
    if url.endswith((API_PREFIX, "/api/agenticmail")):
        return url
    return url + API_PREFIX


def error_from(response: httpx.Response) -> ClientError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body.get("code")
        field = body.get("field")
        return ClientError(
            response.status_code,
            code if isinstance(code, str) else "error",
            body["error"],
            field if isinstance(field, str) else None,
        )
    if isinstance(body, dict) and isinstance(body.get("detail"), str):  # a framework default
        return ClientError(response.status_code, "http_error", body["detail"])
    text = response.text.strip()[:300] or response.reason_phrase
    return ClientError(response.status_code, "http_error", text)


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset (``None``) values, so the server applies its own defaults."""
    return {key: value for key, value in values.items() if value is not None}


def segment(value: str) -> str:
    return quote(value, safe="")


class ClientBase:
    """A connection to the API bound to one key (agent, owner or master)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str = "",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = api_base(base_url)
        self.api_key = api_key
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout, transport=transport)

    def with_key(self, api_key: str) -> Self:
        """A client for another key sharing this one's connection pool (closed with this one)."""
        return type(self)(self.base_url, api_key, http=self._http)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        return headers | dict(extra or {})

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method,
                self.base_url + path,
                json=json_body,
                params=compact(params or {}),
                headers=self._headers(headers),
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException as exc:
            raise APIUnavailable(0, "timeout", f"the API at {self.base_url} timed out") from exc
        except httpx.TransportError as exc:
            raise APIUnavailable(
                0, "api_unreachable", f"cannot reach the API at {self.base_url}: {exc}"
            ) from exc
        if not response.is_success:
            raise error_from(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._send(method, path, **kwargs)).json()
