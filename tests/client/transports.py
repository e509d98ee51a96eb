"""Transports that stand between the client and a real server: they record requests and
break exchanges in the ways that networks and servers break them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator

import httpx

#: The blank line that ends one server-sent event.
EVENT_END = re.compile(rb"\r?\n\r?\n")


def is_event_stream(request: httpx.Request) -> bool:
    return request.url.path.endswith("/events")


def error_answer(status: int, code: str = "test_error", headers: dict | None = None):
    return httpx.Response(
        status, headers=headers, json={"error": {"code": code, "message": "from the test"}}
    )


class Recording(httpx.BaseTransport):
    """Forwards every request to the real transport and keeps it, for the test to inspect."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.exchange(request)

    def exchange(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def sent(self, method: str, path_end: str = "") -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(path_end)]


class AsyncRecording(httpx.AsyncBaseTransport):
    """``Recording`` for the async client."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.exchange(request)

    async def exchange(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def sent(self, method: str, path_end: str = "") -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(path_end)]


class CutAfterEvents(httpx.SyncByteStream):
    """An event stream that breaks (``httpx.ReadError``) after passing on ``events`` events."""

    def __init__(self, inner: httpx.SyncByteStream, events: int) -> None:
        self.inner, self.events = inner, events

    def __iter__(self) -> Iterator[bytes]:
        buffer, passed = b"", 0
        for chunk in self.inner:
            buffer += chunk
            while match := EVENT_END.search(buffer):
                yield buffer[: match.end()]
                buffer, passed = buffer[match.end() :], passed + 1
                if passed == self.events:
                    raise httpx.ReadError("connection cut by the test")

    def close(self) -> None:
        self.inner.close()


class AsyncCutAfterEvents(httpx.AsyncByteStream):
    """``CutAfterEvents`` for the async client."""

    def __init__(self, inner: httpx.AsyncByteStream, events: int) -> None:
        self.inner, self.events = inner, events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        buffer, passed = b"", 0
        async for chunk in self.inner:
            buffer += chunk
            while match := EVENT_END.search(buffer):
                yield buffer[: match.end()]
                buffer, passed = buffer[match.end() :], passed + 1
                if passed == self.events:
                    raise httpx.ReadError("connection cut by the test")

    async def aclose(self) -> None:
        await self.inner.aclose()


def restream(response: httpx.Response, stream: httpx.SyncByteStream | httpx.AsyncByteStream):
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=stream,
        extensions=response.extensions,
    )


class CutEventStreams(Recording):
    """Every event stream breaks after ``events`` events."""

    def __init__(self, events: int = 2) -> None:
        super().__init__()
        self.events = events

    def exchange(self, request: httpx.Request) -> httpx.Response:
        response = super().exchange(request)
        if not is_event_stream(request) or response.status_code != 200:
            return response
        assert isinstance(response.stream, httpx.SyncByteStream)
        return restream(response, CutAfterEvents(response.stream, self.events))


class AsyncCutEventStreams(AsyncRecording):
    """``CutEventStreams`` for the async client."""

    def __init__(self, events: int = 2) -> None:
        super().__init__()
        self.events = events

    async def exchange(self, request: httpx.Request) -> httpx.Response:
        response = await super().exchange(request)
        if not is_event_stream(request) or response.status_code != 200:
            return response
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return restream(response, AsyncCutAfterEvents(response.stream, self.events))


class RefuseEventStreams(Recording):
    """No event stream can be opened: the connection is refused."""

    def exchange(self, request: httpx.Request) -> httpx.Response:
        if is_event_stream(request):
            raise httpx.ConnectError("refused by the test")
        return super().exchange(request)


class AsyncRefuseEventStreams(AsyncRecording):
    """``RefuseEventStreams`` for the async client."""

    async def exchange(self, request: httpx.Request) -> httpx.Response:
        if is_event_stream(request):
            raise httpx.ConnectError("refused by the test")
        return await super().exchange(request)


class AnswerFirst(Recording):
    """Answers the first ``times`` requests that ``matches`` selects itself (by ``answer()``,
    or by raising ``error``), then forwards."""

    def __init__(
        self,
        answer: Callable[[], httpx.Response] | None = None,
        *,
        times: int = 1,
        error: Exception | None = None,
        matches: Callable[[httpx.Request], bool] = lambda request: True,
    ) -> None:
        super().__init__()
        self.answer, self.error, self.left, self.matches = answer, error, times, matches

    def exchange(self, request: httpx.Request) -> httpx.Response:
        if self.left > 0 and self.matches(request):
            self.left -= 1
            if self.error is not None:
                raise self.error
            assert self.answer is not None
            return self.answer()
        return super().exchange(request)


class AsyncAnswerFirst(AsyncRecording):
    """``AnswerFirst`` for the async client."""

    def __init__(
        self,
        answer: Callable[[], httpx.Response] | None = None,
        *,
        times: int = 1,
        error: Exception | None = None,
    ) -> None:
        super().__init__()
        self.answer, self.error, self.left = answer, error, times

    async def exchange(self, request: httpx.Request) -> httpx.Response:
        if self.left > 0:
            self.left -= 1
            if self.error is not None:
                raise self.error
            assert self.answer is not None
            return self.answer()
        return await super().exchange(request)


class LoseAnswers(Recording):
    """Forwards the first ``times`` requests that ``matches`` selects to the server, then
    drops the answer (``httpx.ReadError``) as a broken connection would."""

    def __init__(self, matches: Callable[[httpx.Request], bool], times: int = 1) -> None:
        super().__init__()
        self.matches, self.left = matches, times

    def exchange(self, request: httpx.Request) -> httpx.Response:
        response = super().exchange(request)
        if self.left > 0 and self.matches(request):
            self.left -= 1
            response.read()
            response.close()
            raise httpx.ReadError("answer lost by the test")
        return response


class Rewrite(Recording):
    """Rewrites the bodies of the answers that ``matches`` selects (read whole first)."""

    def __init__(
        self, change: Callable[[bytes], bytes], matches: Callable[[httpx.Request], bool]
    ) -> None:
        super().__init__()
        self.change, self.matches = change, matches

    def exchange(self, request: httpx.Request) -> httpx.Response:
        response = super().exchange(request)
        if not self.matches(request):
            return response
        body = self.change(response.read())
        response.close()
        dropped = ("content-length", "transfer-encoding")
        headers = {k: v for k, v in response.headers.items() if k.lower() not in dropped}
        return httpx.Response(response.status_code, headers=headers, content=body)
