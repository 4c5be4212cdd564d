"""Quantum key distribution with the source (layer 4).

* :mod:`qlight.qkd.theory` — secure-key-rate theory: channels, detectors, PLOB bound,
  BB84 with a sub-Poissonian source (GLLP), decoy-state BB84 (asymptotic and finite-key),
  optimisers and parameter presets.
* :mod:`qlight.qkd.link` — the event-level BB84 link simulator.
"""
