"""The calls of an account's webhook endpoints, from a real ``genq serve`` to real receivers on
loopback: signed with the endpoint's own secret (and, after a rotation, with the one before
it too), for the models it names; a receiver's 410 Gone disables its endpoint; a failed call
is sent again with its ``webhook-id``; and the figures ``/metrics`` shows for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import standardwebhooks
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GenqServer, wait_for, wait_until
from tests.webhooks.receiver import Answer, Receiver, receivers
from tests.webhooks.test_delivery import HOOK_SETTINGS

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def two() -> Iterator[list[Receiver]]:
    yield from receivers(2)


def register(server: GenqServer, url: str, **body: Any) -> dict[str, Any]:
    with server.client() as client:
        answer = client.post("/v1/webhooks", json={"url": url, **body})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())


def run(server: GenqServer, model: str = "noop", **body: Any) -> dict[str, Any]:
    with server.client() as client:
        made = client.post("/v1/jobs", json={"model": model, **body})
        assert made.status_code == 202, made.text
        return dict(wait_for(client, made.json()["id"]))


def calls(server: GenqServer, **query: Any) -> list[dict[str, Any]]:
    with server.client() as client:
        return list(client.get("/v1/webhooks/deliveries", params=query).json()["data"])


def figures(server: GenqServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with server.client() as client:
        text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_an_endpoint_is_called_for_its_models_signed_with_its_secret(
    make_server: Any, two: list[Receiver]
) -> None:
    """Two endpoints, one for every model and one for ``noop`` only, and a job's own webhook:
    each gets its calls, signed with its own secret; the job shows all three calls."""
    server = make_server(**HOOK_SETTINGS)
    every, only = two
    everything = register(server, every.url, events=["start", "completed"])
    noop_only = register(server, only.url, models=["noop"])
    ran = run(server, "noop")
    every.wait(2)
    only.wait(1)
    for receiver, endpoint in ((every, everything), (only, noop_only)):
        for call in receiver.calls:
            verified = standardwebhooks.Webhook(endpoint["secret"]).verify(call.body, call.headers)
            assert verified["id"] == ran["id"]
            assert call.json["event"] in endpoint["events"]
    assert [c.json["event"] for c in every.calls] == ["start", "completed"]
    assert [c.json["event"] for c in only.calls] == ["completed"]
    other = run(server, "demo-image", input={"prompt": "a dot", "width": 64, "height": 64})
    every.wait(4)
    assert [c.json["id"] for c in every.calls[2:]] == [other["id"]] * 2
    assert len(only.calls) == 1
    with server.client() as client:
        shown = client.get(f"/v1/jobs/{ran['id']}").json()["webhooks"]
    assert sorted((c["webhook_id"], c["event"]) for c in shown) == sorted(
        [
            (everything["id"], "start"),
            (everything["id"], "completed"),
            (noop_only["id"], "completed"),
        ]
    )
    wait_until(lambda: all(c["state"] == "delivered" for c in calls(server, job_id=ran["id"])))


def test_a_410_disables_the_endpoint_until_it_is_enabled(
    make_server: Any, two: list[Receiver]
) -> None:
    """A receiver that answers 410 Gone gets no more calls: its endpoint is disabled, with the
    reason; another endpoint is not; enabled again, it is called for the jobs from then on."""
    server = make_server(**HOOK_SETTINGS)
    gone, fine = two
    gone.script = [Answer(410)]
    dropped = register(server, gone.url)
    kept = register(server, fine.url)
    run(server)
    gone.wait(1)
    fine.wait(1)

    def endpoint(made: dict[str, Any]) -> dict[str, Any]:
        with server.client() as client:
            return dict(client.get(f"/v1/webhooks/{made['id']}").json())

    wait_until(lambda: not endpoint(dropped)["enabled"])
    assert endpoint(dropped)["disabled_reason"] == "its receiver answered 410 Gone"
    assert endpoint(kept)["enabled"]
    [failed] = calls(server, webhook_id=dropped["id"])
    assert (failed["state"], failed["last_status"], failed["attempts"]) == ("failed", 410, 1)
    run(server)
    fine.wait(2)
    assert len(gone.calls) == 1
    with server.client() as client:
        client.post(f"/v1/webhooks/{dropped['id']}/enable")
    third = run(server)
    [call] = gone.wait(2)[1:]
    assert call.json["id"] == third["id"]


def test_a_rotated_secret_and_the_one_before_it_both_verify(
    make_server: Any, two: list[Receiver]
) -> None:
    server = make_server(**HOOK_SETTINGS)
    receiver = two[0]
    made = register(server, receiver.url)
    with server.client() as client:
        rotated = client.post(f"/v1/webhooks/{made['id']}/rotate-secret").json()
    assert rotated["secret"] != made["secret"]
    run(server)
    [call] = receiver.wait(1)
    assert len(call.headers["webhook-signature"].split()) == 2
    for secret in (made["secret"], rotated["secret"]):
        assert standardwebhooks.Webhook(secret).verify(call.body, call.headers)["event"] == (
            "completed"
        )


def test_a_failed_call_is_sent_again_with_its_id_and_counted(
    make_server: Any, two: list[Receiver]
) -> None:
    """A call the receiver refused (400) fails at once; sent again, it comes with the same
    ``webhook-id`` and is delivered; ``/metrics`` counts each attempt by outcome, their
    durations, and the delivered call's latency."""
    server = make_server(**HOOK_SETTINGS)
    receiver = two[0]
    receiver.script = [Answer(400), Answer(500)]
    made = register(server, receiver.url)
    run(server)
    [first] = receiver.wait(1)
    wait_until(lambda: calls(server)[0]["state"] == "failed")
    [failed] = calls(server)
    assert (failed["last_status"], failed["webhook_id"]) == (400, made["id"])
    with server.client() as client:
        again = client.post(f"/v1/webhooks/deliveries/{failed['id']}/redeliver").json()
    assert (again["id"], again["state"]) == (failed["id"], "pending")
    sent = receiver.wait(3)
    assert [c.id for c in sent] == [first.id] * 3
    wait_until(lambda: calls(server)[0]["state"] == "delivered")
    [done] = calls(server)
    # Attempts since it was sent again: the 500, then the 200.
    assert (done["attempts"], done["last_status"]) == (2, 200)
    found = figures(server)
    attempts = "genq_webhook_attempts_total"
    assert found[(attempts, (("outcome", "failed"),))] == 1
    assert found[(attempts, (("outcome", "retried"),))] == 1
    assert found[(attempts, (("outcome", "delivered"),))] == 1
    assert found[("genq_webhook_attempt_seconds_count", ())] == 3
    assert found[("genq_webhook_delivery_latency_seconds_count", ())] == 1
    # From the redelivery, after a 500 and a backoff of about 0.3 s.
    assert 0.2 < found[("genq_webhook_delivery_latency_seconds_sum", ())] < 5
