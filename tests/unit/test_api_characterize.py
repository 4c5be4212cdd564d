"""Routes of the characterization jobs (:mod:`qlight.api.characterize_routes`) on the fake.

The app runs in a real uvicorn server on 127.0.0.1 (free port, shut down by the fixture).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.api_fakes import FakeDeviceService, serve_in_thread
from tests.fake_characterize import FakeCharacterizingDevice

from qlight.api.app import create_app
from qlight.api.booting import BootingService
from qlight.device.characterize_types import CharacterizationJob, JobState
from qlight.device.service_types import DeviceState

TOKEN = "test-token-" + "k" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def svc() -> FakeCharacterizingDevice:
    return FakeCharacterizingDevice(seed=5, state=DeviceState.EMITTING, steps=2)


@pytest.fixture
def client(svc: FakeCharacterizingDevice) -> Iterator[httpx.Client]:
    app = create_app(svc, api_token=TOKEN, dashboard=False)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10.0) as c:
        yield c


def test_start_poll_and_fail_with_reason(
    client: httpx.Client, svc: FakeCharacterizingDevice
) -> None:
    body = {"hbt_duration_s": 1.5, "powers_w": [1e-4, 1e-3, 2e-3]}
    r = client.post("/api/v1/emitters/E0002/characterize", json=body, headers=AUTH)
    assert r.status_code == 202, r.text
    job = CharacterizationJob.model_validate(r.json())
    assert job.state is JobState.QUEUED
    assert job.emitter_id == "E0002"
    assert svc.requests[-1].hbt_duration_s == 1.5
    assert svc.requests[-1].powers_w == [1e-4, 1e-3, 2e-3]
    # Reads are open; the fake moves on by half per read.
    first = client.get(f"/api/v1/characterization/{job.job_id}").json()
    assert first["state"] == "running"
    assert first["progress"] == 0.5
    last = client.get(f"/api/v1/characterization/{job.job_id}").json()
    assert last["state"] == "failed"
    assert last["error"] == "fake instrument failure"
    assert last["result"] is None


def test_empty_body_uses_the_defaults(client: httpx.Client, svc: FakeCharacterizingDevice) -> None:
    r = client.post("/api/v1/emitters/E0001/characterize", headers=AUTH)
    assert r.status_code == 202, r.text
    assert svc.requests[-1].hbt_duration_s == 5.0
    assert svc.requests[-1].powers_w is None


def test_auth_not_found_conflict_and_validation(client: httpx.Client) -> None:
    url = "/api/v1/emitters/E0001/characterize"
    assert client.post(url).status_code == 401
    bad = {"Authorization": "Bearer wrong-token-wrong-token"}
    assert client.post(url, headers=bad).status_code == 401
    r = client.post("/api/v1/emitters/NOPE/characterize", headers=AUTH)
    assert r.status_code == 404
    assert "NOPE" in r.json()["detail"]
    assert client.post(url, json={"hbt_duration_s": -1}, headers=AUTH).status_code == 422
    assert client.post(url, json={"what": 1}, headers=AUTH).status_code == 422
    assert client.post(url, headers=AUTH).status_code == 202
    r = client.post(url, headers=AUTH)  # one job at a time
    assert r.status_code == 409
    assert r.json() == {"detail": "a job is still running", "command": "characterize"}
    assert client.get("/api/v1/characterization/nope").status_code == 404
    assert client.post("/api/v1/characterization/nope/cancel", headers=AUTH).status_code == 404


def test_cancel(client: httpx.Client) -> None:
    job = client.post("/api/v1/emitters/E0001/characterize", headers=AUTH).json()
    cancel = f"/api/v1/characterization/{job['job_id']}/cancel"
    assert client.post(cancel).status_code == 401
    assert client.post(cancel, headers=AUTH).status_code == 200
    now = client.get(f"/api/v1/characterization/{job['job_id']}").json()
    assert now["state"] == "cancelled"


def test_a_device_without_the_extension_answers_409() -> None:
    plain = FakeDeviceService(seed=1, state=DeviceState.EMITTING)
    booting = BootingService("QL-TEST", "fast")
    for svc, why in ((plain, "does not support"), (booting, "still starting")):
        app = create_app(svc, api_token=TOKEN, dashboard=False)
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10.0) as c:
            r = c.post("/api/v1/emitters/E0001/characterize", headers=AUTH)
            assert r.status_code == 409
            assert why in r.json()["detail"]
            assert c.get("/api/v1/characterization/x").status_code == 409


def test_booting_service_hands_over_to_the_attached_device() -> None:
    dev = FakeCharacterizingDevice(seed=2, state=DeviceState.EMITTING)
    booting = BootingService("QL-TEST", "fast")
    booting.attach(dev)
    try:
        app = create_app(booting, api_token=TOKEN, dashboard=False)
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10.0) as c:
            r = c.post("/api/v1/emitters/E0001/characterize", headers=AUTH)
            assert r.status_code == 202
    finally:
        booting.stop()


def test_routes_are_in_the_openapi_schema(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/api/v1/emitters/{emitter_id}/characterize"]
    assert "get" in paths["/api/v1/characterization/{job_id}"]
    assert "post" in paths["/api/v1/characterization/{job_id}/cancel"]
