"""The device as the interfaces see it while its software is still loading.

Importing the device (the twin's numba modules, the registry, the composition root) takes
seconds; the issue asks the service to answer within 1 s of start. :class:`BootingService`
implements the :class:`~qlight.device.service_types.DeviceService` protocol from the first
instant: until :meth:`attach` starts the real device and hands over to it, it reports
``POWER_ON`` ("loading the device software"), empty lists, no measurements, and refuses
commands (the REST API answers 409); afterwards every call goes straight to the device.
If loading fails, :meth:`fail` makes it report ``FAULT`` with the reason.
"""

from __future__ import annotations

import threading
import time

from qlight import __version__
from qlight.device.service_types import (
    ChipMap,
    CommandRejectedError,
    CommandResult,
    DeviceService,
    DeviceState,
    DeviceStatus,
    EmitterInfo,
    EmitterNotFoundError,
    Event,
    FaultKind,
    G2Snapshot,
    RateSample,
)

__all__ = ["LOADING_REASON", "BootingService"]

LOADING_REASON = "loading the device software"


class BootingService:
    """Stand-in for the device until :meth:`attach` (see the module docstring).

    Parameters
    ----------
    serial : str
        Serial number reported before the device is attached.
    pace : {"fast", "realtime"}
        Twin pacing reported before the device is attached.
    """

    def __init__(self, serial: str, pace: str) -> None:
        self._serial = serial
        self._pace = pace
        self._t0 = time.monotonic()
        self._cond = threading.Condition()
        self._device: DeviceService | None = None
        self._failure: str | None = None
        self._closed = False

    # ------------------------------------------------------------------ loading
    def attach(self, device: DeviceService) -> bool:
        """Start ``device`` and hand over to it; False (device not started) after :meth:`stop`.

        Starting and handing over happen under the lock that :meth:`stop` takes, so a device
        is never left running after the server stopped.
        """
        with self._cond:
            if self._closed:
                return False
            device.start()
            self._device = device
            self._cond.notify_all()
            return True

    def fail(self, reason: str) -> None:
        """Loading failed: report FAULT with ``reason``."""
        with self._cond:
            self._failure = reason
            self._cond.notify_all()

    @property
    def device(self) -> DeviceService | None:
        """The real device once attached."""
        return self._device

    def _cmd(self, name: str) -> DeviceService:
        device = self._device
        if device is None:
            raise CommandRejectedError(name, self._failure or "the device is still starting")
        return device

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Nothing to do: :meth:`attach` starts the device it hands over to."""

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the attached device; a device attached later is refused (idempotent)."""
        with self._cond:
            self._closed = True
            device = self._device
            self._cond.notify_all()
        if device is not None:
            device.stop(timeout_s)

    # ------------------------------------------------------------------ reads
    def status(self) -> DeviceStatus:
        device = self._device
        if device is not None:
            return device.status()
        failed = self._failure is not None
        return DeviceStatus(
            state=DeviceState.FAULT if failed else DeviceState.POWER_ON,
            state_reason=self._failure or LOADING_REASON,
            state_since_s=0.0,
            emitter_id=None,
            count_rate_cps=None,
            count_rate_unc_cps=None,
            g2_0=None,
            g2_0_ci95=None,
            uptime_s=time.monotonic() - self._t0,
            sim_time_s=0.0,
            power_on_to_emitting_s=None,
            laser_power_w=None,
            temperature_k=None,
            pace="realtime" if self._pace == "realtime" else "fast",
            version=__version__,
            serial=self._serial,
            update_seq=0,
        )

    def emitters(self) -> list[EmitterInfo]:
        device = self._device
        return [] if device is None else device.emitters()

    def emitter(self, emitter_id: str) -> EmitterInfo:
        device = self._device
        if device is None:
            raise EmitterNotFoundError(emitter_id)
        return device.emitter(emitter_id)

    def events(self, after_id: int = 0, limit: int = 100) -> list[Event]:
        device = self._device
        return [] if device is None else device.events(after_id, limit)

    def latest_g2(self) -> G2Snapshot | None:
        device = self._device
        return None if device is None else device.latest_g2()

    def rate_history(self, limit: int = 600) -> list[RateSample]:
        device = self._device
        return [] if device is None else device.rate_history(limit)

    def chip_map(self) -> ChipMap:
        device = self._device
        if device is not None:
            return device.chip_map()
        return ChipMap(chip_size_um=None, marks=[], emitters=[], target_id=None, position_um=None)

    def wait_update(self, after_seq: int, timeout_s: float) -> int:
        device = self._device
        if device is None:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._device is not None or self._closed, max(timeout_s, 0.0)
                )
                device = self._device
            if device is None:
                return 0
            return device.status().update_seq  # a new device is a change
        return device.wait_update(after_seq, timeout_s)

    # ------------------------------------------------------------------ commands
    def standby(self, reason: str = "operator request") -> CommandResult:
        return self._cmd("standby").standby(reason)

    def resume(self) -> CommandResult:
        return self._cmd("resume").resume()

    def remap(self) -> CommandResult:
        return self._cmd("remap").remap()

    def select_emitter(self, emitter_id: str) -> CommandResult:
        return self._cmd("select_emitter").select_emitter(emitter_id)

    def power_cycle(self) -> CommandResult:
        return self._cmd("power_cycle").power_cycle()

    def inject_fault(self, fault: FaultKind) -> CommandResult:
        return self._cmd("inject_fault").inject_fault(fault)
