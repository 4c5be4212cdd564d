"""Typed instrument protocols: the only view of the hardware that control code gets.

Every layer above :mod:`qlight.instruments` (mapping, characterization, the device service,
the CLI) talks to instruments through these :class:`typing.Protocol` classes and the plain
data types below. They expose only what a real instrument reports:

* positions in the **stage frame**, as the stage encoder reports them (metres);
* images in detector **counts** per pixel dwell;
* time tags as sorted ``int64`` picoseconds per channel;
* spectra in counts per spectrometer pixel.

Nothing here reveals ground truth (true emitter positions, the true stage↔chip transform,
which spot is a single emitter). Backends: :mod:`qlight.instruments.sim` (the digital twin);
real drivers later. Nothing outside the composition root (:mod:`qlight.device.factory`) knows
which backend runs.

Long operations (raster scans, acquisitions) take an optional ``progress`` callback, called
as ``progress(done, total)`` in units of work the operation names (scan lines, acquisition
chunks), and an optional ``cancel`` token (anything with ``is_set() -> bool``, e.g.
:class:`threading.Event`). When the token is set, the operation stops at the next unit of
work and raises :class:`OperationCancelled`; the time already spent stays spent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from qlight.errors import ParameterError, QlightError

__all__ = [
    "CancelToken",
    "Clock",
    "CountRates",
    "Laser",
    "LaserMode",
    "OperationCancelled",
    "Power",
    "ProgressCallback",
    "ScanImage",
    "Scanner",
    "Spectrometer",
    "Spectrum",
    "Stage",
    "StagePosition",
    "TagData",
    "Thermometer",
    "TimeTagger",
    "check_cancel",
]

#: ``progress(done, total)``: called after each unit of work of a long operation.
ProgressCallback = Callable[[int, int], None]

#: Excitation mode of a laser.
LaserMode = Literal["cw", "pulsed"]


class OperationCancelled(QlightError):  # noqa: N818 (name fixed by the issue)
    """A long instrument operation was cancelled through its cancellation token.

    Parameters
    ----------
    operation : str
        What was cancelled (``"raster_scan"``, ``"acquire"``).
    done, total : int
        Units of work completed before the cancellation and planned in total.
    """

    def __init__(self, operation: str, done: int, total: int) -> None:
        self.operation = operation
        self.done = done
        self.total = total
        super().__init__(f"{operation} cancelled after {done} of {total} steps")


@runtime_checkable
class CancelToken(Protocol):
    """Anything that says whether cancellation was requested (e.g. :class:`threading.Event`)."""

    def is_set(self) -> bool:
        """Return True once cancellation has been requested."""
        ...


def check_cancel(cancel: CancelToken | None, operation: str, done: int, total: int) -> None:
    """Raise :class:`OperationCancelled` if ``cancel`` is set; backends call it between steps."""
    if cancel is not None and cancel.is_set():
        raise OperationCancelled(operation, done, total)


# ----------------------------------------------------------------------------- data types


@dataclass(frozen=True, slots=True)
class StagePosition:
    """A stage-frame position as the stage encoder reports it (metres)."""

    x_m: float
    y_m: float
    z_m: float


def _readonly(a: NDArray[np.generic]) -> None:
    a.flags.writeable = False


@dataclass(frozen=True, slots=True)
class ScanImage:
    """A confocal raster scan: photoluminescence counts and reflection, in the stage frame.

    Row ``i``, column ``j`` is the pixel centred at stage position ``(x_m[j], y_m[i])``.

    Attributes
    ----------
    pl_counts : ndarray of int64, shape (ny, nx)
        Detected photoluminescence counts per pixel dwell (all detectors summed).
    reflection : ndarray of float64, shape (ny, nx)
        Reflection-channel photodiode signal per pixel dwell, in photoelectrons (shot,
        intensity and read noise included); metal marks read several times the bare GaN.
    x_m, y_m : ndarray of float64, shapes (nx,) and (ny,)
        Stage-frame pixel-centre coordinates, as commanded (metres).
    z_m : float
        Stage z (focus) position during the scan.
    dwell_s : float
        Integration time per pixel.
    power_w : float
        Laser power at the sample during the scan (0 when the laser was off).
    line_start_s : ndarray of float64, shape (ny,)
        Clock time at which each line started.
    t_start_s, t_end_s : float
        Clock time at the start and the end of the scan (including moves and flyback).
    """

    pl_counts: NDArray[np.int64]
    reflection: NDArray[np.float64]
    x_m: NDArray[np.float64]
    y_m: NDArray[np.float64]
    z_m: float
    dwell_s: float
    power_w: float
    line_start_s: NDArray[np.float64]
    t_start_s: float
    t_end_s: float

    def __post_init__(self) -> None:
        ny, nx = self.y_m.size, self.x_m.size
        if self.pl_counts.shape != (ny, nx) or self.reflection.shape != (ny, nx):
            raise ParameterError(
                "pl_counts", self.pl_counts.shape, f"must have shape (ny, nx) = {(ny, nx)}"
            )
        if self.line_start_s.shape != (ny,):
            raise ParameterError("line_start_s", self.line_start_s.shape, f"must be ({ny},)")
        for a in (self.pl_counts, self.reflection, self.x_m, self.y_m, self.line_start_s):
            _readonly(a)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return (self.y_m.size, self.x_m.size)

    @property
    def step_m(self) -> float:
        """Pixel pitch (the x pitch; scans are square-pixel)."""
        return float(self.x_m[1] - self.x_m[0]) if self.x_m.size > 1 else 0.0

    @property
    def pl_rate_per_s(self) -> NDArray[np.float64]:
        """PL counts divided by the dwell time (counts per second)."""
        return self.pl_counts / self.dwell_s


@dataclass(frozen=True, slots=True)
class TagData:
    """Time tags of one acquisition.

    Attributes
    ----------
    t_ps : tuple of ndarray of int64
        Per channel, sorted detection times in picoseconds since the acquisition start.
    duration_ps : int
        Acquisition duration; every tag lies in ``[0, duration_ps)`` up to channel delays.
    resolution_ps : int
        Tagger resolution (tags are multiples of it before channel delays).
    t_start_s : float
        Clock time at the start of the acquisition.
    """

    t_ps: tuple[NDArray[np.int64], ...]
    duration_ps: int
    resolution_ps: int
    t_start_s: float = 0.0

    def __post_init__(self) -> None:
        for i, t in enumerate(self.t_ps):
            if t.dtype != np.int64 or t.ndim != 1:
                raise ParameterError(f"t_ps[{i}]", t.dtype, "must be a 1-D int64 array")
            if t.size > 1 and bool(np.any(np.diff(t) < 0)):
                raise ParameterError(f"t_ps[{i}]", "unsorted", "must be sorted")
            _readonly(t)
        if self.duration_ps <= 0:
            raise ParameterError("duration_ps", self.duration_ps, "must be > 0")

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.t_ps)

    @property
    def counts(self) -> tuple[int, ...]:
        """Tags per channel."""
        return tuple(int(t.size) for t in self.t_ps)

    @property
    def rates_per_s(self) -> tuple[float, ...]:
        """Mean count rate per channel."""
        return tuple(n / (self.duration_ps * 1e-12) for n in self.counts)


@dataclass(frozen=True, slots=True)
class CountRates:
    """Counts per channel integrated over ``duration_s`` (a count-rate meter reading)."""

    counts: tuple[int, ...]
    duration_s: float
    t_start_s: float = 0.0

    @property
    def rates_per_s(self) -> tuple[float, ...]:
        """Count rate per channel."""
        return tuple(n / self.duration_s for n in self.counts)

    @property
    def total_rate_per_s(self) -> float:
        """Summed count rate over all channels."""
        return sum(self.counts) / self.duration_s


@dataclass(frozen=True, slots=True)
class Spectrum:
    """A spectrometer reading: counts per pixel at the pixel-centre wavelengths."""

    wavelength_nm: NDArray[np.float64]
    counts: NDArray[np.int64]
    exposure_s: float
    t_start_s: float = 0.0
    resolution_nm: float = field(default=0.0)

    def __post_init__(self) -> None:
        if self.wavelength_nm.shape != self.counts.shape:
            raise ParameterError(
                "counts", self.counts.shape, f"must match wavelength_nm {self.wavelength_nm.shape}"
            )
        _readonly(self.wavelength_nm)
        _readonly(self.counts)


# ----------------------------------------------------------------------------- protocols


@runtime_checkable
class Clock(Protocol):
    """The time base every instrument operation advances (simulated in the twin)."""

    def now_s(self) -> float:
        """Seconds since the clock started."""
        ...

    def wait(self, duration_s: float) -> None:
        """Let ``duration_s`` seconds pass (the world keeps evolving: drift, warm-up)."""
        ...


@runtime_checkable
class Stage(Protocol):
    """A closed-loop three-axis positioner (stage frame, metres)."""

    @property
    def travel_range_m(
        self,
    ) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """``((x_min, x_max), (y_min, y_max), (z_min, z_max))`` in the stage frame."""
        ...

    def move_to(self, x_m: float, y_m: float, z_m: float | None = None) -> StagePosition:
        """Move (and settle) to a stage-frame target; return the encoder reading afterwards.

        ``z_m=None`` keeps the current z. Costs the move plus settle time on the clock.
        Raises :class:`~qlight.errors.ParameterError` outside the travel range.
        """
        ...

    def position(self) -> StagePosition:
        """Current encoder reading."""
        ...


@runtime_checkable
class Scanner(Protocol):
    """Confocal raster scanning (moves the stage, reads PL and reflection per pixel)."""

    @property
    def psf_fwhm_m(self) -> float:
        """Nominal lateral resolution (FWHM) from the objective and laser specifications."""
        ...

    def raster_scan(
        self,
        x_center_m: float,
        y_center_m: float,
        width_m: float,
        height_m: float,
        step_m: float,
        dwell_s: float,
        *,
        z_m: float | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ScanImage:
        """Scan a rectangle line by line (x fast, y slow) and return the images.

        Costs the move to the start, ``N·dwell_s`` for ``N`` pixels and one flyback per line.
        ``progress`` counts lines. The stage is left at the scan centre.
        """
        ...


@runtime_checkable
class Laser(Protocol):
    """The excitation laser."""

    @property
    def wavelength_nm(self) -> float:
        """Emission wavelength."""
        ...

    @property
    def power_w(self) -> float:
        """Set power at the sample (reported even while off)."""
        ...

    @property
    def is_on(self) -> bool:
        """Whether the output is enabled."""
        ...

    @property
    def mode(self) -> LaserMode:
        """``"cw"`` or ``"pulsed"``."""
        ...

    @property
    def rep_rate_hz(self) -> float | None:
        """Repetition rate in pulsed mode, ``None`` in CW."""
        ...

    def set_power(self, power_w: float) -> None:
        """Set the power at the sample (W); ParameterError outside ``[0, max]``."""
        ...

    def on(self) -> None:
        """Enable the output."""
        ...

    def off(self) -> None:
        """Disable the output."""
        ...

    def set_cw(self) -> None:
        """Switch to continuous-wave operation."""
        ...

    def set_pulsed(self, rep_rate_hz: float, pulse_width_ps: float = 50.0) -> None:
        """Switch to pulsed operation."""
        ...


@runtime_checkable
class TimeTagger(Protocol):
    """A multi-channel time tagger behind single-photon detectors (an HBT setup)."""

    @property
    def n_channels(self) -> int:
        """Number of detector channels."""
        ...

    @property
    def resolution_ps(self) -> int:
        """Tag resolution."""
        ...

    def acquire(
        self,
        duration_s: float,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> TagData:
        """Record time tags at the current focus for ``duration_s`` (costs that long)."""
        ...

    def count_rates(self, duration_s: float) -> CountRates:
        """Integrate counts per channel for ``duration_s`` (costs that long); no tags kept."""
        ...


@runtime_checkable
class Spectrometer(Protocol):
    """A grating spectrometer with a CCD line at the confocal output."""

    @property
    def wavelength_nm(self) -> NDArray[np.float64]:
        """Pixel-centre wavelengths."""
        ...

    def acquire_spectrum(
        self,
        exposure_s: float,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Spectrum:
        """Expose for ``exposure_s`` at the current focus and read the counts per pixel."""
        ...


@runtime_checkable
class Thermometer(Protocol):
    """A temperature sensor on the sample mount."""

    def temperature_k(self) -> float:
        """Current reading in kelvin."""
        ...


@runtime_checkable
class Power(Protocol):
    """Mains control of the rack (stage controller, laser, detectors)."""

    def power_cycle(self) -> None:
        """Switch everything off and on again; the stage re-homes, the laser comes up off."""
        ...

    def uptime_s(self) -> float:
        """Seconds since the last power-on."""
        ...
