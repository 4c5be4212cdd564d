"""REST routes of :func:`qlight.api.app.create_app` against the deterministic fake device.

The app runs in a real uvicorn server on 127.0.0.1 (a free port, shut down by the fixture)
and is driven with httpx, as a client would.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.api_fakes import FakeDeviceService, serve_in_thread

from qlight.api.app import create_app
from qlight.device.service_types import (
    ChipMap,
    CommandResult,
    DeviceState,
    DeviceStatus,
    EmitterInfo,
    Event,
    G2Snapshot,
    RateSample,
)

TOKEN = "test-token-" + "x" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def svc() -> FakeDeviceService:
    return FakeDeviceService(seed=3, state=DeviceState.EMITTING)


@pytest.fixture
def client(svc: FakeDeviceService) -> Iterator[httpx.Client]:
    app = create_app(svc, api_token=TOKEN, dashboard=False)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=10.0) as c:
        yield c


def test_device_status_is_the_service_snapshot(
    client: httpx.Client, svc: FakeDeviceService
) -> None:
    r = client.get("/api/v1/device")
    assert r.status_code == 200
    st = DeviceStatus.model_validate(r.json())
    ref = svc.status()
    assert st.state is DeviceState.EMITTING
    assert st.emitter_id == ref.emitter_id == "E0001"
    assert st.count_rate_cps == ref.count_rate_cps
    assert st.g2_0 == ref.g2_0
    assert st.update_seq == ref.update_seq


def test_emitters_list_and_one(client: httpx.Client, svc: FakeDeviceService) -> None:
    r = client.get("/api/v1/emitters")
    assert r.status_code == 200
    listed = [EmitterInfo.model_validate(e) for e in r.json()]
    assert listed == svc.emitters()
    assert [e.is_current for e in listed] == [True, False, False, False]
    one = client.get("/api/v1/emitters/E0003")
    assert one.status_code == 200
    assert EmitterInfo.model_validate(one.json()) == svc.emitter("E0003")


def test_unknown_emitter_is_a_404_with_a_clear_json_error(client: httpx.Client) -> None:
    r = client.get("/api/v1/emitters/NOPE-1")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"detail": "no emitter with id 'NOPE-1'"}


def test_events_paging(client: httpx.Client, svc: FakeDeviceService) -> None:
    for _ in range(3):
        svc.power_cycle()
    everything = [Event.model_validate(e) for e in client.get("/api/v1/events").json()]
    assert everything == svc.events(after_id=0, limit=100)
    assert len(everything) >= 7
    page = client.get("/api/v1/events", params={"after_id": 2, "limit": 3}).json()
    assert [e["id"] for e in page] == [3, 4, 5]
    assert client.get("/api/v1/events", params={"after_id": 10_000}).json() == []


@pytest.mark.parametrize(
    "params", [{"after_id": -1}, {"limit": 0}, {"limit": 1001}, {"after_id": "x"}]
)
def test_bad_event_query_is_422(client: httpx.Client, params: dict[str, object]) -> None:
    assert client.get("/api/v1/events", params=params).status_code == 422


def test_g2_rate_and_chip_map(client: httpx.Client, svc: FakeDeviceService) -> None:
    svc.step()
    svc.step()
    g2 = G2Snapshot.model_validate(client.get("/api/v1/measurements/g2").json())
    assert g2 == svc.latest_g2()
    assert len(g2.tau_ns) == len(g2.g2) == len(g2.counts)
    rate = [RateSample.model_validate(x) for x in client.get("/api/v1/measurements/rate").json()]
    assert rate == svc.rate_history()
    assert len(rate) == 3
    last = client.get("/api/v1/measurements/rate", params={"limit": 1}).json()
    assert [RateSample.model_validate(x) for x in last] == rate[-1:]
    cmap = ChipMap.model_validate(client.get("/api/v1/chip-map").json())
    assert cmap == svc.chip_map()
    assert cmap.target_id == "E0001"


def test_g2_is_null_before_the_first_histogram(client: httpx.Client) -> None:
    # A fresh fake at POWER_ON has published no histogram yet.
    boot = FakeDeviceService(state=DeviceState.POWER_ON)
    app = create_app(boot, api_token=TOKEN, dashboard=False)
    with serve_in_thread(app) as url:
        r = httpx.get(f"{url}/api/v1/measurements/g2", timeout=10.0)
    assert r.status_code == 200
    assert r.json() is None


COMMANDS = [
    ("/api/v1/device/standby", None),
    ("/api/v1/device/resume", None),
    ("/api/v1/device/remap", None),
    ("/api/v1/device/select-emitter", {"emitter_id": "E0002"}),
    ("/api/v1/device/power-cycle", None),
    ("/api/v1/device/inject-fault", {"fault": "bleach"}),
]


BAD_HEADERS = [
    {},
    {"Authorization": "Bearer wrong-token-of-some-length"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
]


def test_commands_without_the_right_token_are_401_and_change_nothing(
    client: httpx.Client, svc: FakeDeviceService
) -> None:
    before = svc.status().update_seq
    for path, body in COMMANDS:
        for headers in BAD_HEADERS:
            r = client.post(path, json=body, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["detail"] == "missing or wrong bearer token"
    assert svc.status().update_seq == before
    assert svc.status().state is DeviceState.EMITTING


def test_reads_are_open(client: httpx.Client) -> None:
    for path in ("/api/v1/device", "/api/v1/emitters", "/api/v1/events", "/api/v1/chip-map"):
        assert client.get(path, headers={"Authorization": "Bearer nonsense"}).status_code == 200


def test_command_sequence_with_token(client: httpx.Client, svc: FakeDeviceService) -> None:
    def post(path: str, body: dict[str, str] | None = None) -> CommandResult:
        r = client.post(f"/api/v1/device/{path}", json=body, headers=AUTH)
        assert r.status_code == 200, r.text
        return CommandResult.model_validate(r.json())

    res = post("standby")
    assert (res.accepted, res.command, res.state) == (True, "standby", DeviceState.STANDBY)
    assert svc.status().state is DeviceState.STANDBY
    assert post("resume").state is DeviceState.LOCATING
    for _ in range(2):
        svc.step()  # LOCATING -> ACQUIRING -> EMITTING
    assert post("select-emitter", {"emitter_id": "E0004"}).state is DeviceState.ACQUIRING
    assert svc.status().emitter_id == "E0004"
    svc.step()
    assert post("inject-fault", {"fault": "laser_drop"}).state is DeviceState.RECOVERING
    svc.step()
    svc.step()
    assert post("remap").state is DeviceState.MAPPING
    assert post("power-cycle").state is DeviceState.POWER_ON
    kinds = [e.kind for e in svc.events(limit=1000)]
    assert kinds.count("command") == 6
    assert "fault" in kinds


def test_rejected_command_is_409_with_its_reason(
    client: httpx.Client, svc: FakeDeviceService
) -> None:
    r = client.post("/api/v1/device/resume", headers=AUTH)  # EMITTING: nothing to resume
    assert r.status_code == 409
    assert r.json() == {"detail": "nothing to resume (state is EMITTING)", "command": "resume"}
    r = client.post("/api/v1/device/select-emitter", json={"emitter_id": "E9999"}, headers=AUTH)
    assert r.status_code == 409
    assert r.json() == {"detail": "no emitter 'E9999'", "command": "select_emitter"}
    assert svc.status().emitter_id == "E0001"


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/api/v1/device/select-emitter", b""),
        ("/api/v1/device/select-emitter", b"{not json"),
        ("/api/v1/device/select-emitter", b'{"emitter": "E0002"}'),
        ("/api/v1/device/select-emitter", b'{"emitter_id": ""}'),
        ("/api/v1/device/select-emitter", b'{"emitter_id": "E0002", "extra": 1}'),
        ("/api/v1/device/select-emitter", b'["E0002"]'),
        ("/api/v1/device/inject-fault", b'{"fault": "meteor"}'),
        ("/api/v1/device/inject-fault", b"{}"),
    ],
)
def test_malformed_bodies_are_422(
    client: httpx.Client, svc: FakeDeviceService, path: str, content: bytes
) -> None:
    before = svc.status().update_seq
    r = client.post(path, content=content, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert svc.status().update_seq == before


def test_openapi_lists_every_route(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    paths = set(doc["paths"])
    expected = {
        "/api/v1/device",
        "/api/v1/emitters",
        "/api/v1/emitters/{emitter_id}",
        "/api/v1/events",
        "/api/v1/measurements/g2",
        "/api/v1/measurements/rate",
        "/api/v1/chip-map",
        *(p for p, _ in COMMANDS),
    }
    assert expected <= paths
    assert client.get("/docs").status_code == 200
    for p, _ in COMMANDS:
        assert {"401", "409", "200"} <= set(doc["paths"][p]["post"]["responses"])


def test_dashboard_is_mounted_when_its_module_exists(svc: FakeDeviceService) -> None:
    pytest.importorskip("qlight.api.dashboard")
    app = create_app(svc, api_token=TOKEN)
    with serve_in_thread(app) as url:
        r = httpx.get(f"{url}/", timeout=10.0)
        api = httpx.get(f"{url}/api/v1/device", timeout=10.0)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert api.status_code == 200
