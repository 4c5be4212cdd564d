"""``qlight characterize --emitter ID``: the certificate of an emitter of the running device.

The command asks the running device (``qlight run``) over its REST API to characterize the
emitter (``POST /api/v1/emitters/{id}/characterize``, bearer token), follows the job
(``GET /api/v1/characterization/{job}``) with a progress bar on stderr, then reads the files
the device wrote (same machine: the job returns their paths) and builds the certificate with
:func:`~qlight.characterization.certificate.characterize_tags`:

* the CW HBT file gives g2 (raw and, with the measured off-emitter background, corrected),
  the count rate, the trace, Allan deviation and blinking;
* the power series gives the saturation fit; the spectrum the ZPL and Debye–Waller factor;
* the pulsed file gives the lifetime and the pulsed g2(0), taken into the same certificate
  (its results, figures data, budget lines and notes for those keys).

Errors are one line, exit code 2: no device at the URL, 401 (token), 404 (unknown emitter),
409 (not possible now: reason), a failed or cancelled job (reason), a timeout.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from qlight.api.auth import ENV_VAR, TOKEN_FILE
from qlight.characterization.certificate import (
    Certificate,
    CertificateSettings,
    SpectrumData,
    characterize_tags,
    file_sha256,
)
from qlight.characterization.report import render_html
from qlight.characterization.saturation import SaturationSeries
from qlight.cli._output import cli_errors, fail, progress
from qlight.cli.characterize import (
    _channels,
    _powers_w,
    _read,  # the FILES mode's reader (sync from the rep rate)
    _settings,
    show_certificate,
)
from qlight.errors import ParameterError

__all__ = [
    "MERGED_FROM_PULSED",
    "build_certificate",
    "characterize_emitter",
    "resolve_token",
    "run_job",
]

#: Results the pulsed acquisition contributes to the certificate of the CW acquisition.
MERGED_FROM_PULSED = ("lifetime_ns", "g2_0_pulsed")
_POLL_S = 0.2


def resolve_token(token: str | None, data_dir: Path) -> str:
    """``--token``, else ``$QLIGHT_API_TOKEN``, else ``<data_dir>/api_token``; else fail."""
    if token:
        return token.strip()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env
    path = data_dir / TOKEN_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    if not text:
        fail(f"no API token: give --token, set {ENV_VAR} or run in the device's --data-dir "
             f"({path} not readable)")  # fmt: skip
    return text


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text.strip()[:200] or r.reason_phrase
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def _check(r: httpx.Response, url: str, emitter_id: str) -> dict[str, Any]:
    if r.status_code == 401:
        fail(f"the device at {url} refused the API token (401): check --token / {ENV_VAR}")
    if r.status_code == 404:
        fail(f"{_detail(r)} (404: unknown emitter {emitter_id!r} or job)")
    if r.status_code == 409:
        fail(f"the device refused to characterize {emitter_id}: {_detail(r)}")
    if r.status_code >= 400:
        fail(f"the device answered {r.status_code}: {_detail(r)}")
    body = r.json()
    if not isinstance(body, dict):
        fail(f"unexpected answer from {url}: {body!r}"[:300])
    return body


def run_job(
    url: str,
    token: str,
    emitter_id: str,
    request: dict[str, Any],
    *,
    timeout_s: float,
    show_progress: bool,
) -> dict[str, Any]:
    """Start the job and wait for it; return the finished job (``state == "done"``)."""
    base = url.rstrip("/") + "/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(timeout=10.0) as client:
            r = client.post(
                f"{base}/emitters/{emitter_id}/characterize", json=request, headers=headers
            )
            job = _check(r, url, emitter_id)
            job_id = str(job["job_id"])
            deadline = time.monotonic() + timeout_s
            done = 0.0
            with progress(f"characterizing {emitter_id}", 1.0, enabled=show_progress) as adv:
                while job["state"] in ("queued", "running"):
                    if time.monotonic() > deadline:
                        client.post(f"{base}/characterization/{job_id}/cancel", headers=headers)
                        fail(f"characterization of {emitter_id} did not finish in "
                             f"{timeout_s:g} s (job {job_id} cancelled)")  # fmt: skip
                    time.sleep(_POLL_S)
                    job = _check(client.get(f"{base}/characterization/{job_id}"), url, emitter_id)
                    p = float(job.get("progress", 0.0))
                    adv(max(p - done, 0.0))
                    done = max(done, p)
    except httpx.TransportError as exc:
        fail(f"no device answers at {url} ({type(exc).__name__}): is `qlight run` running?")
    if job["state"] != "done" or not isinstance(job.get("result"), dict):
        fail(f"characterization of {emitter_id} {job['state']}: {job.get('error') or 'no result'}")
    return job


def _power_series(path: Path) -> SaturationSeries:
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return SaturationSeries(data[:, 0], data[:, 1].astype(np.int64), data[:, 2])


def _spectrum(path: Path, resolution_nm: float) -> SpectrumData:
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return SpectrumData(data[:, 0], data[:, 1], resolution_nm, None)


def build_certificate(
    job: dict[str, Any], settings: CertificateSettings, channels: tuple[int, int], url: str
) -> Certificate:
    """The certificate of a finished job's files (module docstring)."""
    res = job["result"]
    paths = {k: Path(res[k]) for k in ("hbt", "pulsed", "power_series", "spectrum")}
    for k, p in paths.items():
        if not p.is_file():
            fail(f"{k} file {p} of job {job['job_id']} not found (is the device on this machine?)")
    s = settings
    if s.background_cps == 0.0:
        s = dataclasses.replace(s, background_cps=float(res["background_cps"]))
    a, b, _sync, dur, _period = _read(paths["hbt"], channels, lambda _n: None)
    pa, pb, psync, pdur, pperiod = _read(paths["pulsed"], channels, lambda _n: None)
    prov = {
        "files": [{"path": str(p), "sha256": file_sha256(p)} for p in paths.values()],
        "inputs": [{"path": res["manifest"], "sha256": file_sha256(res["manifest"])}],
        "channels": list(channels),
        "command": "qlight characterize --emitter",
        "device_url": url,
        "emitter_id": job["emitter_id"],
        "job_id": job["job_id"],
        "acquisition": {
            **job["request"],
            **{k: res[k] for k in ("laser_power_w", "background_cps", "position_m")},
        },
    }
    cert = characterize_tags(
        a, b, duration_ps=dur, settings=s, provenance=prov,
        saturation=_power_series(paths["power_series"]),
        spectrum=_spectrum(paths["spectrum"], float(res["spectrum_resolution_nm"])),
    )  # fmt: skip
    if psync is None or pperiod is None:
        fail(f"pulsed file {paths['pulsed']} has no repetition rate")
    pulsed = characterize_tags(
        pa, pb, duration_ps=pdur, settings=s, sync_ps=psync, period_ps=pperiod
    )
    for k in MERGED_FROM_PULSED:
        cert.results[k] = pulsed.results[k]
    cert.lifetime_hist, cert.lifetime_fit = pulsed.lifetime_hist, pulsed.lifetime_fit
    cert.budget = [ln for ln in cert.budget if ln.result not in MERGED_FROM_PULSED] + [
        ln for ln in pulsed.budget if ln.result in MERGED_FROM_PULSED
    ]
    cert.notes = [n for n in cert.notes if "no laser sync" not in n] + [
        f"lifetime and g2_0_pulsed from the pulsed acquisition "
        f"({pdur * 1e-12:g} s at {1e12 / pperiod:.4g} Hz)"
    ]
    return cert


def characterize_emitter(
    emitter_id: str,
    *,
    report: Path,
    json: bool,
    url: str,
    token: str | None,
    data_dir: Path,
    channels: str,
    irf_sigma_ps: float,
    background_cps: float,
    powers_mw: str | None,
    g2_window_ns: float,
    g2_bin_ps: int,
    trace_bin_ms: float,
    hbt_s: float,
    pulsed_s: float,
    spectrum_s: float,
    timeout_s: float,
) -> None:
    """The ``--emitter`` mode of ``qlight characterize`` (module docstring)."""
    with cli_errors():
        ch = _channels(channels)
        settings = _settings(irf_sigma_ps, background_cps, g2_window_ns, g2_bin_ps, trace_bin_ms)
        request: dict[str, Any] = {
            "hbt_duration_s": hbt_s, "pulsed_duration_s": pulsed_s,
            "spectrum_exposure_s": spectrum_s,
        }  # fmt: skip
        powers = _powers_w(powers_mw)
        if powers is not None:
            request["powers_w"] = powers
        for name, v in (("--hbt-s", hbt_s), ("--pulsed-s", pulsed_s),
                        ("--spectrum-s", spectrum_s), ("--timeout-s", timeout_s)):  # fmt: skip
            if not v > 0:
                raise ParameterError(name, v, "must be > 0")
        tok = resolve_token(token, data_dir)
        job = run_job(url, tok, emitter_id, request, timeout_s=timeout_s, show_progress=True)
        cert = build_certificate(job, settings, ch, url)
        try:
            report.write_text(render_html(cert), encoding="utf-8")
        except OSError as exc:
            raise ParameterError("--report", str(report), f"cannot be written ({exc})") from None
    show_certificate(
        cert, report, json=json, title=f"Certificate of {emitter_id} (job {job['job_id']})",
        extra={"emitter_id": emitter_id, "job_id": job["job_id"], "files": job["result"]},
    )  # fmt: skip
