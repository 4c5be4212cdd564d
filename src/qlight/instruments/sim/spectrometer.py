"""Twin backend of the spectrometer (:class:`~qlight.instruments.protocols.Spectrometer`).

A grating spectrometer with a CCD line behind the confocal pinhole. For an exposure at the
current focus (evaluated at the mid time, with drift):

    counts_j ~ Poisson( t · [ Σ_i R_i ∫_pixel (S_i ⊛ G)(λ) dλ + B / Δλ_band · w_j ] + t · dark )

with ``R_i = I_i · D_i · c_i`` the emitter's photons reaching the CCD per second (mean
emission rate at its local power ``I_i`` including blinking, detection-PSF factor ``D_i``,
spectral path efficiency ``c_i`` = planar collection × structure factor × transmission ×
``GRATING_CCD_EFFICIENCY``), ``S_i`` its normalized spectrum
(:meth:`~qlight.physics.emitter.EmitterPhotophysics.spectrum`: ZPL + phonon sideband),
``G`` the Gaussian instrument function of FWHM ``resolution_nm``, ``w_j`` the pixel width.

Simplifications (docs/twin/instruments.md): the background PL (spots + smooth background,
whose detected rate the optics model gives for the SPADs) is spread flat over the chip's
ZPL band and scaled by the ratio of the grating/CCD to the SPAD efficiency at the band
centre; CCD read noise and cosmic rays are not modelled; the pixel grid is linear in λ.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from qlight._validation import check_positive, check_positive_int
from qlight.errors import ParameterError
from qlight.instruments.protocols import CancelToken, ProgressCallback, Spectrum, check_cancel
from qlight.instruments.sim.tagger import expected_focus_rates
from qlight.instruments.sim.world import TwinWorld
from qlight.physics.optics import FWHM_PER_SIGMA, collection_efficiency

__all__ = ["GRATING_CCD_EFFICIENCY", "READOUT_S", "SimSpectrometer", "spectrometer_grid_nm"]

#: Grating × CCD quantum efficiency, flat. *Estimate* (a 300 l/mm grating near its blaze
#: ≈ 0.6–0.8 times a deep-depletion CCD ≈ 0.4–0.9).
GRATING_CCD_EFFICIENCY = 0.4
#: Clock cost of the CCD readout, s. *Estimate*.
READOUT_S = 0.05
#: Photon-energy margins of the grid below and above the ZPL band, eV (the phonon
#: sideband sits ~0.1 eV below the ZPL, REFERENCES.md / docs/twin/photophysics.md).
_MARGIN_BLUE_EV = 0.05
_MARGIN_RED_EV = 0.15
_HC_EV_NM = 1239.841984
_OVERSAMPLE = 8


def spectrometer_grid_nm(zpl_band_nm: tuple[float, float], n_pixels: int) -> NDArray[np.float64]:
    """Pixel-centre wavelengths covering the ZPL band plus its phonon sideband."""
    n = check_positive_int("n_pixels", n_pixels)
    lo = _HC_EV_NM / (_HC_EV_NM / zpl_band_nm[0] + _MARGIN_BLUE_EV)
    hi = _HC_EV_NM / (_HC_EV_NM / zpl_band_nm[1] - _MARGIN_RED_EV)
    width = (hi - lo) / n
    grid: NDArray[np.float64] = lo + (np.arange(n, dtype=np.float64) + 0.5) * width
    return grid


class SimSpectrometer:
    """The twin's spectrometer; see the module docstring.

    Parameters
    ----------
    world : TwinWorld
        The shared world.
    n_pixels : int
        CCD pixels.
    resolution_nm : float
        FWHM of the Gaussian instrument function.
    dark_cps : float
        Dark counts per pixel per second.
    """

    def __init__(
        self,
        world: TwinWorld,
        *,
        n_pixels: int = 1024,
        resolution_nm: float = 0.5,
        dark_cps: float = 0.01,
    ) -> None:
        self._world = world
        self._grid = spectrometer_grid_nm(world.chip.config.zpl_nm, n_pixels)
        self._grid.flags.writeable = False
        self._resolution_nm = check_positive("resolution_nm", resolution_nm)
        if not math.isfinite(dark_cps) or dark_cps < 0.0:
            raise ParameterError("dark_cps", dark_cps, "must be finite and >= 0")
        self._dark_cps = float(dark_cps)

    @property
    def wavelength_nm(self) -> NDArray[np.float64]:
        """Pixel-centre wavelengths."""
        return self._grid

    @property
    def resolution_nm(self) -> float:
        """FWHM of the instrument function."""
        return self._resolution_nm

    def expected_counts_per_s(self) -> NDArray[np.float64]:
        """Expected counts per pixel per second at the current focus (no noise, no dark)."""
        w = self._world
        x, y, z = w.stage.position_m
        xc, yc, dep = (float(v) for v in w.focus_chip_frame(x, y, z, w.clock.now_s()))
        return self._expected(xc, yc, dep)

    def _expected(self, xc: float, yc: float, dep: float) -> NDArray[np.float64]:
        w = self._world
        grid = self._grid
        pitch = float(grid[1] - grid[0])
        fine_step = pitch / _OVERSAMPLE
        sigma = self._resolution_nm / FWHM_PER_SIGMA
        pad = math.ceil(5.0 * sigma / fine_step)
        n_fine = grid.size * _OVERSAMPLE + 2 * pad
        fine = grid[0] - 0.5 * pitch + (np.arange(n_fine) - pad + 0.5) * fine_step
        density = np.zeros(n_fine)
        fe = w.focus_emitters(xc, yc, dep)
        emitted, _, bg = expected_focus_rates(w, fe, xc, yc, dep)
        arrays = w.chip.arrays
        n_s = w.chip.config.refractive_index
        for k, i in enumerate(fe.index):
            pp = w.chip.emitters[int(i)].photophysics
            col = float(collection_efficiency(pp.dipole_polar_rad, w.objective.na, n_s))
            col = min(1.0, col * float(arrays.collection_factor[i]))
            rate = emitted[k] * fe.detection[k] * col * w.objective.transmission
            density += rate * GRATING_CCD_EFFICIENCY * pp.spectrum(fine)
        band = w.chip.config.zpl_nm
        if bg > 0.0:
            spad = w.detector.efficiency_at(0.5 * (band[0] + band[1]))
            if spad > 0.0:
                inband = (fine >= band[0]) & (fine <= band[1])
                density += inband * (bg * GRATING_CCD_EFFICIENCY / spad / (band[1] - band[0]))
        x = (np.arange(-pad, pad + 1)) * fine_step
        kernel = np.exp(-0.5 * (x / sigma) ** 2)
        kernel /= kernel.sum()
        blurred = np.convolve(density, kernel, mode="same")[pad : pad + grid.size * _OVERSAMPLE]
        result: NDArray[np.float64] = (
            blurred.reshape(grid.size, _OVERSAMPLE).sum(axis=1) * fine_step
        )
        return result

    def acquire_spectrum(
        self,
        exposure_s: float,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Spectrum:
        """Expose at the current focus for ``exposure_s`` and read the CCD."""
        w = self._world
        t = check_positive("exposure_s", exposure_s)
        check_cancel(cancel, "acquire_spectrum", 0, 1)
        t_start = w.clock.now_s()
        x, y, z = w.stage.position_m
        xc, yc, dep = (float(v) for v in w.focus_chip_frame(x, y, z, t_start + 0.5 * t))
        mean = (self._expected(xc, yc, dep) + self._dark_cps) * t
        fe = w.focus_emitters(xc, yc, dep)
        emitted, _, _ = expected_focus_rates(w, fe, xc, yc, dep)
        for i, r in zip(fe.index, emitted, strict=True):
            w.consume_budget(int(i), float(r) * t)
        counts = w.rngs.spectrometer.poisson(mean).astype(np.int64)
        w.clock.advance(t + READOUT_S)
        if progress is not None:
            progress(1, 1)
        return Spectrum(
            wavelength_nm=self._grid.copy(),
            counts=counts,
            exposure_s=t,
            t_start_s=t_start,
            resolution_nm=self._resolution_nm,
        )
