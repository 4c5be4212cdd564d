"""The twin backend: instruments over one shared simulated world and clock.

Only the composition root (:mod:`qlight.device.factory`), the evaluation harness
(:mod:`qlight.instruments.sim.truth`), the twin's own CLI (``qlight simulate``) and tests
may import this package; import-linter enforces it.
"""
