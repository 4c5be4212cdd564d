"""Schemathesis property tests of the app's OpenAPI document.

Every operation of ``/openapi.json`` is exercised with examples Hypothesis derives from the
schema (derandomized, few examples per operation so the file stays fast) against the real
server, and every answer is checked against the document: no 5xx, documented status codes,
content types and response bodies that validate against the response models. Commands are
sent with the token, so they reach the device (the fake) and may be rejected with a
documented 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.api_fakes import FakeDeviceService, serve_in_thread

from qlight.api.app import create_app
from qlight.device.service_types import DeviceState

TOKEN = "schema-token-" + "s" * 20


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Any, str]]:
    svc = FakeDeviceService(seed=11, state=DeviceState.EMITTING)
    app = create_app(svc, api_token=TOKEN, dashboard=False)
    schema = schemathesis.openapi.from_dict(app.openapi())
    with serve_in_thread(app) as url:
        yield schema, url


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_conforms_to_the_schema(live: tuple[Any, str]) -> None:
    schema, url = live
    ops = _operations(schema)
    assert len(ops) >= 14
    for op in ops:

        @given(case=op.as_strategy())
        @settings(
            max_examples=8,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            )

        check()
