"""Polarization fit against the twin's Malus law with visibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlight.characterization.polarization import fit_polarization
from qlight.characterization.uncertainty import Estimate, Undetermined
from qlight.errors import ParameterError
from qlight.physics.emitter import EmitterPhotophysics
from qlight.physics.emitter_spectrum import polarization_transmission

ANGLES = np.linspace(0.0, math.pi, 12, endpoint=False)


def _counts(v: float, phi: float, seed: int, rate: float = 2e4) -> np.ndarray:
    ph = EmitterPhotophysics(1e3, 0.5, 0.02, 0.01, polarization_visibility=v,
                             dipole_azimuth_rad=phi)  # fmt: skip
    mu = rate * 0.1 * polarization_transmission(ph, ANGLES)
    return np.random.default_rng(seed).poisson(mu)


def test_contains_the_twin_truth() -> None:
    fit = fit_polarization(ANGLES, _counts(0.85, 2.0, 1), 0.1)
    assert isinstance(fit.visibility, Estimate)
    assert fit.visibility.contains(0.85)
    assert isinstance(fit.dipole_angle_rad, Estimate)
    assert fit.dipole_angle_rad.contains(2.0)


def test_interval_coverage() -> None:
    # 80 seeds: hits ~ Binomial(80, 0.95), mean 76, sd 1.9; fail at k <= 68 (P = 0.0006).
    hits_v = hits_phi = 0
    for seed in range(80):
        fit = fit_polarization(ANGLES, _counts(0.7, 0.4, seed, rate=5e3), 0.1)
        assert isinstance(fit.visibility, Estimate)
        assert isinstance(fit.dipole_angle_rad, Estimate)
        hits_v += fit.visibility.contains(0.7)
        hits_phi += fit.dipole_angle_rad.contains(0.4)
    assert hits_v >= 69
    assert hits_phi >= 69


def test_unpolarized_has_no_angle() -> None:
    fit = fit_polarization(ANGLES, _counts(0.0, 0.0, 3), 0.1)
    assert isinstance(fit.visibility, Estimate)
    assert fit.visibility.ci95[0] == 0.0
    assert isinstance(fit.dipole_angle_rad, Undetermined)


def test_bad_input() -> None:
    fit = fit_polarization([0.0, 0.1, 0.2], [1, 2, 3], 1.0)
    assert isinstance(fit.visibility, Undetermined)
    assert "6 counts" in fit.visibility.reason
    with pytest.raises(ParameterError, match="counts"):
        fit_polarization([0.0, 1.0], [1, 2, 3], 1.0)
