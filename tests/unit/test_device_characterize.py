"""The characterization job on the running device (twin, pace fast, small mapping region).

One device boots once for the module (first boot maps a 12 µm region: a few s of wall time);
the tests then run characterization jobs with short acquisitions on it and check the files,
the return to EMITTING on the served emitter, the event log, cancellation and rejections.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from qlight.characterization.certificate import CertificateSettings
from qlight.characterization.uncertainty import Estimate
from qlight.cli._characterize_emitter import build_certificate
from qlight.device import characterize_control
from qlight.device.characterize_plan import POWER_FACTORS, PlanFailedError, default_powers_w
from qlight.device.characterize_types import (
    CharacterizationJob,
    CharacterizationRequest,
    JobBoard,
    JobNotFoundError,
    JobState,
)
from qlight.device.service import Device
from qlight.device.service_types import (
    CharacterizationService,
    CommandRejectedError,
    DeviceState,
    EmitterNotFoundError,
)
from qlight.device.settings import load_settings
from qlight.timetags.io import read_header
from qlight.timetags.photon_hdf5 import read_photon_hdf5

SHORT = CharacterizationRequest(
    hbt_duration_s=1.0, pulsed_duration_s=0.4, power_step_s=0.2, spectrum_exposure_s=0.5
)
TIMEOUT_S = 120.0


def _wait(dev: Device, pred: object, timeout_s: float = TIMEOUT_S) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred(dev):  # type: ignore[operator]
            return
        time.sleep(0.02)
    st = dev.status()
    raise AssertionError(f"timed out in {st.state} ({st.state_reason})")


def _emitting(dev: Device) -> bool:
    return dev.status().state is DeviceState.EMITTING


def _finished(dev: Device, job_id: str, timeout_s: float = TIMEOUT_S) -> CharacterizationJob:
    _wait(dev, lambda d: d.characterization(job_id).state not in
          (JobState.QUEUED, JobState.RUNNING), timeout_s)  # fmt: skip
    return dev.characterization(job_id)


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    data = tmp_path_factory.mktemp("char") / "data"
    dev = Device(load_settings(None, data_dir=data, twin_seed=0,
                               mapping={"region_um": 12.0, "tile_um": 6.0}))  # fmt: skip
    dev.start()
    try:
        _wait(dev, _emitting)
        yield dev
    finally:
        dev.stop()


def test_device_implements_the_optional_protocol(device: Device) -> None:
    assert isinstance(device, CharacterizationService)


def test_job_writes_the_files_and_returns_to_the_served_emitter(device: Device) -> None:
    served = device.status().emitter_id
    assert served is not None
    after = device.events(0, 100_000)[-1].id
    job = device.characterize(served, SHORT)
    assert job.state is JobState.QUEUED
    assert job.emitter_id == served
    states: set[DeviceState] = set()
    progress: list[float] = []

    def watch(d: Device) -> bool:
        j = d.characterization(job.job_id)
        states.add(d.status().state)  # reads answer while the plan runs
        progress.append(j.progress)
        return j.state not in (JobState.QUEUED, JobState.RUNNING)

    _wait(device, watch)
    done = device.characterization(job.job_id)
    assert done.state is JobState.DONE, done.error
    assert done.progress == 1.0
    assert done.result is not None
    assert DeviceState.ACQUIRING in states
    assert all(b >= a for a, b in itertools.pairwise(progress))
    _wait(device, _emitting)
    assert device.status().emitter_id == served

    res = done.result
    folder = Path(res.directory)
    assert folder.parent.parent.name == "characterization"
    assert folder.parent.name == served
    hbt = read_photon_hdf5(res.hbt)
    assert read_header(Path(res.hbt)).sync_rate_hz is None
    assert hbt.duration_ps == round(SHORT.hbt_duration_s * 1e12)
    assert sorted(hbt.t_ps) == [0, 1]
    rate = sum(t.size for t in hbt.t_ps.values()) / SHORT.hbt_duration_s
    assert read_header(Path(res.pulsed)).sync_rate_hz == pytest.approx(SHORT.rep_rate_hz)
    # The emitter is bright (> 10 kcps) and the background off it is much weaker.
    assert rate > 1e4
    assert 0.0 <= res.background_cps < 0.1 * rate
    series = np.loadtxt(res.power_series, delimiter=",", skiprows=1, ndmin=2)
    assert series[:, 0].tolist() == pytest.approx(default_powers_w(1e-3, 20e-3))
    assert series.shape == (len(POWER_FACTORS), 3)
    # A saturating emitter: the rate grows with power, less than linearly. Poisson error of
    # each reading is √N ≲ 0.4 % of N here, far below the ≥ 10 % steps of the curve.
    r = series[:, 1] / series[:, 2]
    assert np.all(np.diff(r) > 0)
    assert r[-1] / r[0] < series[-1, 0] / series[0, 0]
    spec = np.loadtxt(res.spectrum, delimiter=",", skiprows=1, ndmin=2)
    assert spec.shape[1] == 2
    assert spec.shape[0] >= 16
    assert spec[:, 1].sum() > 0
    assert res.spectrum_resolution_nm > 0
    manifest = json.loads(Path(res.manifest).read_text())
    assert manifest["emitter_id"] == served
    assert manifest["hbt"] == res.hbt
    # The certificate the CLI builds from these files (in-process): every key determined
    # and each value inside its interval; lifetime and pulsed g2 from the pulsed file.
    cert = build_certificate(done.model_dump(mode="json"), CertificateSettings(), (0, 1), "u")
    for k in ("g2_0_raw", "lifetime_ns", "count_rate_cps", "zpl_nm", "p_sat_w", "g2_0_pulsed"):
        est = cert.results[k]
        assert isinstance(est, Estimate), (k, est)
        assert est.ci95[0] <= est.value <= est.ci95[1]
    assert cert.lifetime_fit is not None
    assert cert.saturation_fit is not None
    assert cert.spectrum_fit is not None
    assert cert.provenance["emitter_id"] == served
    reasons = [e.reason for e in device.events(after, 100_000)]
    for word in ("background", "HBT (CW)", "power series", "pulsed", "spectrum", "done"):
        assert any(word in m and "characterization" in m for m in reasons), word
    assert any(m.startswith(f"characterizing {served}") for m in reasons)


def test_cancel_stops_the_job_and_the_device_returns_to_emitting(device: Device) -> None:
    _wait(device, _emitting)
    served = device.status().emitter_id
    assert served is not None
    slow = CharacterizationRequest(hbt_duration_s=600.0, pulsed_duration_s=1.0)
    job = device.characterize(served, slow)
    _wait(device, lambda d: d.characterization(job.job_id).step == "hbt")
    device.cancel_characterization(job.job_id)
    out = _finished(device, job.job_id)
    assert out.state is JobState.CANCELLED
    assert out.error == "cancelled"
    assert out.result is None
    _wait(device, _emitting)
    assert device.status().emitter_id == served


def test_a_command_preempts_the_job(device: Device) -> None:
    _wait(device, _emitting)
    served = device.status().emitter_id
    assert served is not None
    job = device.characterize(served, CharacterizationRequest(hbt_duration_s=600.0))
    _wait(device, lambda d: d.characterization(job.job_id).step == "hbt")
    device.standby("test")
    out = _finished(device, job.job_id)
    assert out.state is JobState.CANCELLED
    assert out.error == "preempted by a command"
    _wait(device, lambda d: d.status().state is DeviceState.STANDBY)
    # From STANDBY a job runs too and the device then returns to EMITTING.
    job2 = device.characterize(served, SHORT)
    assert _finished(device, job2.job_id).state is JobState.DONE
    _wait(device, _emitting)
    assert device.status().emitter_id == served


def test_a_failed_plan_fails_the_job_with_its_reason(
    device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wait(device, _emitting)
    served = device.status().emitter_id
    assert served is not None

    def unreachable(*_a: object, **_k: object) -> None:
        raise PlanFailedError(f"{served} could not be acquired: test")

    monkeypatch.setattr(characterize_control, "reach_emitter", unreachable)
    job = device.characterize(served, SHORT)
    out = _finished(device, job.job_id)
    assert out.state is JobState.FAILED
    assert out.error == f"{served} could not be acquired: test"
    _wait(device, _emitting)
    assert device.status().emitter_id == served
    assert any("failed" in e.reason and e.kind == "error" for e in device.events(0, 100_000))


def test_rejections(device: Device) -> None:
    _wait(device, _emitting)
    served = device.status().emitter_id
    assert served is not None
    with pytest.raises(EmitterNotFoundError):
        device.characterize("E-nope", SHORT)
    with pytest.raises(CommandRejectedError, match="powers_w"):
        device.characterize(served, CharacterizationRequest(powers_w=[1e-4, 1e-3, 1.0]))
    job = device.characterize(served, CharacterizationRequest(hbt_duration_s=600.0))
    with pytest.raises(CommandRejectedError, match="still running"):
        device.characterize(served, SHORT)
    device.cancel_characterization(job.job_id)
    assert _finished(device, job.job_id).state is JobState.CANCELLED
    with pytest.raises(JobNotFoundError):
        device.characterization("no-such-job")
    with pytest.raises(JobNotFoundError):
        device.cancel_characterization("no-such-job")
    _wait(device, _emitting)


def test_job_board_keeps_one_active_job_and_prunes_finished_ones() -> None:
    board = JobBoard(keep=3)
    req = CharacterizationRequest()
    ids = []
    for _ in range(5):
        job = board.create("E-1", req, "now")
        assert job is not None
        assert board.create("E-2", req, "now") is None  # one active job at a time
        assert board.active() == job
        board.update(job.job_id, state=JobState.DONE)
        ids.append(job.job_id)
    assert board.active() is None
    kept = [i for i in ids if _exists(board, i)]
    assert kept == ids[-3:]


def _exists(board: JobBoard, job_id: str) -> bool:
    try:
        board.get(job_id)
    except JobNotFoundError:
        return False
    return True


def test_default_powers_are_capped_and_distinct() -> None:
    assert default_powers_w(1e-3, 20e-3) == pytest.approx([f * 1e-3 for f in POWER_FACTORS])
    capped = default_powers_w(10e-3, 20e-3)
    assert capped == pytest.approx([2.5e-3, 5e-3, 10e-3, 20e-3])
    assert all(math.isfinite(p) for p in capped)


def test_request_validation() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        CharacterizationRequest(hbt_duration_s=0.0)
    with pytest.raises(ValidationError, match="at least 3"):
        CharacterizationRequest(powers_w=[1e-3])
    with pytest.raises(ValidationError, match="Extra inputs"):
        CharacterizationRequest.model_validate({"unknown": 1})
