"""``client.webhooks`` against a real ``genq serve`` that calls a real receiver on loopback:
endpoints created, listed, disabled, enabled, rotated and deleted; the account's default
secret; the calls listed a page at a time and sent again; the same through ``AsyncClient``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import genq
from tests.client.transports import LoseAnswers, Recording
from tests.conftest import Backend, GenqServer, wait_until
from tests.webhooks.receiver import Answer, Receiver
from tests.webhooks.test_delivery import HOOK_SETTINGS

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


@pytest.fixture(scope="module")
def hooked(
    tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend
) -> Iterator[GenqServer]:
    """A server that may call loopback receivers over http, shared by this module's tests."""
    directory: Path = tmp_path_factory.mktemp("hooked")
    server = GenqServer(directory / "data", backend=shared_backend, **HOOK_SETTINGS).start()
    yield server
    server.close()


def client_for(server: GenqServer, **kwargs: Any) -> genq.Client:
    return genq.Client(server.url, server.key, **kwargs)


def states(client: genq.Client, **filters: Any) -> list[str]:
    return [call.state for call in client.webhooks.deliveries(**filters)]


def test_an_endpoint_is_created_read_changed_and_deleted(
    hooked: GenqServer, receiver: Receiver
) -> None:
    """create() answers the endpoint with its secret; get() and list() show it without;
    disable(), enable() and rotate_secret() answer it changed; delete() removes it."""
    with client_for(hooked) as client:
        made = client.webhooks.create(
            receiver.url, events=["completed", "start"], models=["noop"], description="ci"
        )
        assert made.id.startswith("wh_")
        assert str(made.secret).startswith("whsec_")
        assert (made.url, made.events, made.models) == (
            receiver.url,
            ("start", "completed"),
            ("noop",),
        )
        assert (made.description, made.enabled, made.disabled_at) == ("ci", True, None)
        assert made.created_at is not None
        assert made.raw["object"] == "webhook"
        shown = client.webhooks.get(made.id)
        assert shown == dataclasses.replace(made, secret=None)
        assert shown in client.webhooks.list()

        off = client.webhooks.disable(made.id)
        assert (off.enabled, off.disabled_reason) == (False, "disabled by its account")
        assert off.disabled_at is not None
        assert client.webhooks.enable(made.id).enabled
        rotated = client.webhooks.rotate_secret(made.id)
        assert str(rotated.secret).startswith("whsec_")
        assert rotated.secret != made.secret

        client.webhooks.delete(made.id)
        assert made.id not in [endpoint.id for endpoint in client.webhooks.list()]
        for action in (client.webhooks.get, client.webhooks.delete, client.webhooks.enable):
            with pytest.raises(genq.NotFound) as caught:
                action(made.id)
            assert caught.value.code == "webhook_not_found"


def test_every_model_and_the_default_events_when_none_are_given(hooked: GenqServer) -> None:
    """An endpoint created with only a URL is called for every model on completed; a bad
    event is the server's ValidationError, naming the field."""
    with client_for(hooked) as client:
        plain = client.webhooks.create("https://93.184.215.14/genq")
        assert (plain.events, plain.models, plain.description) == (("completed",), None, None)
        client.webhooks.delete(plain.id)
        with pytest.raises(genq.ValidationError) as caught:
            client.webhooks.create("https://93.184.215.14/genq", events=["finished"])
    assert "events/0" in [detail["path"] for detail in caught.value.details]


def test_the_default_secret_is_made_once(hooked: GenqServer) -> None:
    """default_secret() is the account's whsec_ secret, the same on every read."""
    with client_for(hooked) as client:
        secret = client.webhooks.default_secret()
        assert secret.startswith("whsec_")
        assert client.webhooks.default_secret() == secret


def test_calls_are_listed_a_page_at_a_time_and_filtered(
    hooked: GenqServer, receiver: Receiver
) -> None:
    """deliveries() walks every page, newest first, stops after limit calls, and filters by
    job, endpoint and state; each call reads as a typed WebhookDelivery."""
    transport = Recording()
    with client_for(hooked, transport=transport) as client:
        endpoint = client.webhooks.create(receiver.url)
        jobs = [client.run("noop").id for _ in range(3)]
        mine = {"webhook_id": endpoint.id}
        wait_until(lambda: states(client, **mine) == ["delivered"] * 3)
        del transport.requests[:]
        calls = list(client.webhooks.deliveries(webhook_id=endpoint.id, page_size=2))
        assert len(transport.sent("GET", "/v1/webhooks/deliveries")) == 2
        assert [call.job_id for call in calls] == jobs[::-1]
        call = calls[0]
        assert isinstance(call, genq.WebhookDelivery)
        assert (call.webhook_id, call.event, call.url) == (endpoint.id, "completed", receiver.url)
        assert (call.state, call.attempts, call.last_status, call.last_error) == (
            "delivered",
            1,
            200,
            None,
        )
        assert None not in (call.created_at, call.finished_at)
        assert call.next_attempt_at is None
        assert call.raw["object"] == "webhook_delivery"
        limited = client.webhooks.deliveries(webhook_id=endpoint.id, page_size=2, limit=2)
        assert list(limited) == calls[:2]
        [only] = client.webhooks.deliveries(job_id=jobs[0], webhook_id=endpoint.id)
        assert only == calls[-1]
        assert list(client.webhooks.deliveries(webhook_id=endpoint.id, state="failed")) == []
        with pytest.raises(genq.ValidationError):
            list(client.webhooks.deliveries(state="lost"))
        client.webhooks.delete(endpoint.id)


def test_a_failed_call_is_sent_again_unless_its_endpoint_is_disabled(
    hooked: GenqServer, receiver: Receiver
) -> None:
    """A call the receiver refused (400) fails; redeliver() sends it again with the same id;
    the call of a disabled endpoint is a Conflict, an unknown call NotFound."""
    with client_for(hooked) as client:
        endpoint = client.webhooks.create(receiver.url)
        receiver.script = [Answer(400)]
        job_id = client.run("noop").id
        failed: dict[str, Any] = {"webhook_id": endpoint.id, "state": "failed"}
        wait_until(lambda: states(client, **failed) == ["failed"])
        [call] = client.webhooks.deliveries(**failed)
        assert (call.job_id, call.last_status, call.attempts) == (job_id, 400, 1)

        again = client.webhooks.redeliver(call.id)
        assert (again.id, again.job_id, again.finished_at) == (call.id, job_id, None)
        assert again.state == "pending"
        wait_until(lambda: [c.id for c in receiver.calls].count(call.id) == 2)
        wait_until(lambda: states(client, webhook_id=endpoint.id) == ["delivered"])

        client.webhooks.disable(endpoint.id)
        with pytest.raises(genq.Conflict) as refused:
            client.webhooks.redeliver(call.id)
        assert refused.value.code == "webhook_disabled"
        with pytest.raises(genq.NotFound) as unknown:
            client.webhooks.redeliver("msg_nothing")
        assert unknown.value.code == "delivery_not_found"
        client.webhooks.delete(endpoint.id)


def test_a_delete_whose_answer_was_lost_counts_as_done(hooked: GenqServer) -> None:
    """An endpoint's DELETE retried after a lost answer gets 404: the first one worked."""
    transport = LoseAnswers(lambda request: request.method == "DELETE")
    with client_for(hooked, transport=transport) as client:
        endpoint = client.webhooks.create("https://93.184.215.14/genq")
        client.webhooks.delete(endpoint.id)
        assert len(transport.sent("DELETE")) == 2
        with pytest.raises(genq.NotFound):
            client.webhooks.get(endpoint.id)


@pytest.mark.parametrize(
    ("read", "data"),
    [
        (genq.Webhook.from_api, {"url": "https://h/"}),
        (genq.Webhook.from_api, {"id": "wh_1", "url": "u", "created_at": "yesterday"}),
        (genq.WebhookDelivery.from_api, {"id": "msg_1", "job_id": "job_1", "event": "start"}),
        (genq.WebhookDelivery.from_api, ["msg_1"]),
    ],
    ids=["endpoint-without-id", "endpoint-bad-time", "call-without-url", "call-not-an-object"],
)
def test_an_unreadable_endpoint_or_call_is_a_protocol_error(read: Any, data: Any) -> None:
    """A malformed endpoint or call from the server raises ProtocolError."""
    with pytest.raises(genq.ProtocolError):
        read(data)


def test_the_async_client_does_the_same(hooked: GenqServer, receiver: Receiver) -> None:
    """AsyncClient.webhooks: the same calls, with await and async for."""

    async def main() -> None:
        async with genq.AsyncClient(hooked.url, hooked.key) as client:
            hooks = client.webhooks
            made = await hooks.create(receiver.url, models=["noop"], description="async")
            assert made.secret is not None
            assert await hooks.get(made.id) == dataclasses.replace(made, secret=None)
            assert made.id in [endpoint.id for endpoint in await hooks.list()]
            assert not (await hooks.disable(made.id)).enabled
            assert (await hooks.enable(made.id)).enabled
            assert (await hooks.rotate_secret(made.id)).secret not in (None, made.secret)
            assert (await hooks.default_secret()).startswith("whsec_")

            jobs = [(await client.run("noop")).id for _ in range(2)]

            async def delivered() -> list[genq.WebhookDelivery]:
                listed = hooks.deliveries(webhook_id=made.id, state="delivered", page_size=1)
                return [call async for call in listed]

            for _ in range(200):
                if len(calls := await delivered()) == 2:
                    break
                await asyncio.sleep(0.05)
            assert [call.job_id for call in calls] == jobs[::-1]
            again = await hooks.redeliver(calls[0].id)
            assert (again.id, again.state) == (calls[0].id, "pending")

            await hooks.delete(made.id)
            with pytest.raises(genq.NotFound):
                await hooks.get(made.id)

    asyncio.run(main())


def test_http_errors_map_as_for_jobs(hooked: GenqServer) -> None:
    """Without a valid key, client.webhooks raises AuthenticationError like every call."""
    with (
        genq.Client(hooked.url, "gq_not_a_key") as client,
        pytest.raises(genq.AuthenticationError),
    ):
        client.webhooks.list()
