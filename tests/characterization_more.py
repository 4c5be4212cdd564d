"""Known-truth spectra and blinking traces for the coverage of the spectrum and blinking
intervals (slow test and ``benchmarks/coverage_spectrum_blinking.py``)."""

from __future__ import annotations

import dataclasses

import numpy as np
from tests.characterization_twin import PHOTOPHYSICS, setup

from qlight.characterization.blinking import analyse_blinking
from qlight.characterization.spectrum import fit_spectrum
from qlight.characterization.uncertainty import Estimate
from qlight.physics.emitter import Blinking
from qlight.physics.hbt import Excitation, PhotonSource, simulate_hbt
from qlight.timetags.trace import intensity_trace

K_OFF_PER_S, K_ON_PER_S = 25.0, 50.0
SMALL_CHIP = {"size_x_m": 60e-6, "size_y_m": 60e-6, "blinking_fraction": 0.0}


def _hit(r: object, truth: float) -> bool:
    return isinstance(r, Estimate) and r.contains(truth)


def blinking_trial(seed: int, duration_s: float = 4.0) -> dict[str, bool]:
    """Whether the on time, off time and on fraction intervals contain the twin's truth."""
    ph = dataclasses.replace(PHOTOPHYSICS, blinking=Blinking(0.0, K_OFF_PER_S, K_ON_PER_S))
    tags = simulate_hbt([PhotonSource(ph, 0.002)], Excitation(0.1e-3), setup(500.0),
                        duration_s, np.random.default_rng(seed))  # fmt: skip
    tr = intensity_trace(list(tags.t_ps), bin_ps=10**9, stop_ps=tags.duration_ps)
    res = analyse_blinking(tr.counts, 1e-3).results
    return {
        "blinking_on_time_s": _hit(res["blinking_on_time_s"], 1.0 / K_OFF_PER_S),
        "blinking_off_time_s": _hit(res["blinking_off_time_s"], 1.0 / K_ON_PER_S),
        "blinking_on_fraction": _hit(
            res["blinking_on_fraction"], K_ON_PER_S / (K_ON_PER_S + K_OFF_PER_S)
        ),
    }


class TwinSpectra:
    """Repeated exposures of one twin emitter (seed 31): the same truth, fresh Poisson noise."""

    def __init__(self, exposure_s: float = 0.5) -> None:
        from qlight.device.config import TwinConfig
        from qlight.device.factory import build_twin

        ins, truth = build_twin(TwinConfig(seed=31, chip=SMALL_CHIP, spectrometer_dark_cps=0.5))
        ins.laser.set_power(1e-3)
        ins.laser.on()
        a = truth.chip.arrays
        e = max(
            (e for e in truth.emitters() if e.cluster < 0
             and np.sort(np.hypot(a.x_m - e.x_chip_m, a.y_m - e.y_chip_m))[1] > 2e-6),
            key=lambda e: e.eta,
        )  # fmt: skip
        ins.stage.move_to(e.x_stage_m, e.y_stage_m, e.z_stage_m)
        rates = truth.emitter_rates_at(e.x_stage_m, e.y_stage_m, e.z_stage_m)
        assert len(rates) == 1
        self.pp = truth.chip.emitters[next(iter(rates))].photophysics
        self.band = truth.chip.config.zpl_nm
        self.spectrometer = ins.spectrometer
        self.exposure_s = exposure_s

    def trial(self) -> dict[str, bool]:
        """One exposure; whether each interval contains the truth."""
        s = self.spectrometer.acquire_spectrum(self.exposure_s)
        f = fit_spectrum(s.wavelength_nm, s.counts, resolution_nm=s.resolution_nm,
                         band_nm=self.band)  # fmt: skip
        return {
            "zpl_nm": _hit(f.zpl_nm, self.pp.zpl_nm),
            "zpl_fwhm_nm": _hit(f.zpl_fwhm_nm, self.pp.zpl_fwhm_nm),
            "debye_waller": _hit(f.debye_waller, self.pp.debye_waller),
        }
