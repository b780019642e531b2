"""Tasks and coupon pools on the local stack, over HTTP as an operator calls them: codes loaded (a second load
skips what the pool has), counted, listed; tasks listed and an unknown one answered 404; a method the routes do
not take answered 405."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import LocalStackClient

pytestmark = pytest.mark.e2e


def test_codes_are_loaded_and_counted_and_tasks_listed(local_stack: LocalStackClient) -> None:
    local_stack.require("manage_api")
    pool = f"e2e-{uuid.uuid4().hex[:8]}"

    loaded = local_stack.request("POST", f"/v1/coupon-pools/{pool}/codes", {"codes": ["A1", "A2", "A1"]})
    assert loaded.status == 201, loaded.text
    assert loaded.json() == {"pool": pool, "added": 2, "left": 2, "claimed": 0}
    again = local_stack.request("POST", f"/v1/coupon-pools/{pool}/codes", {"codes": ["A2", "A3"]})
    assert again.json()["added"] == 1

    counts = local_stack.request("GET", f"/v1/coupon-pools/{pool}")
    assert (counts.status, counts.json()) == (200, {"pool": pool, "left": 3, "claimed": 0})
    pools = local_stack.request("GET", "/v1/coupon-pools").json()["pools"]
    assert {"pool": pool, "left": 3, "claimed": 0} in pools
    refused = local_stack.request("POST", "/v1/coupon-pools/Not%20A%20Slug/codes", {"codes": ["A1"]})
    assert refused.status == 422 and [e["loc"] for e in refused.json()["errors"]] == ["pool"], refused.text

    listed = local_stack.request("GET", "/v1/tasks?status=open&limit=5")
    assert listed.status == 200 and set(listed.json()) == {"tasks", "next_cursor"}, listed.text
    assert local_stack.request("PATCH", "/v1/tasks/task_none", {"status": "done"}).status == 404
    assert local_stack.request("DELETE", f"/v1/coupon-pools/{pool}").status == 405
