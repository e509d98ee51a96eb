"""Path parameters that take the rest of the path take any character, so that the route,
not the router, answers (in its own API's shape)."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.backends("sqlite")
def test_a_model_name_with_a_newline_is_answered_by_the_dialect(api: httpx.Client) -> None:
    """A model name holding an encoded newline reaches the Oxen and Segmind routes, which
    answer 404 in their own shape (the router answered in the native shape before)."""
    status = api.get("/api/media/generations/status/default/a%0Ab")
    assert status.status_code == 404
    assert status.json() == {"error": "Model not found: a\nb"}
    submitted = api.post("/v2/a%0Ab", json={"prompt": "x"})
    assert submitted.status_code == 404
    assert isinstance(submitted.json()["error"], str)


@pytest.mark.backends("sqlite")
def test_a_native_model_name_with_a_newline_is_not_found(api: httpx.Client) -> None:
    """GET /v1/models/NAME with a newline in the name is the route's model_not_found."""
    response = api.get("/v1/models/a%0Ab")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
