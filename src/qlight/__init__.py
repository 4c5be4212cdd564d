"""qlight: software of a plug-and-play, room-temperature GaN single-photon source.

Layers (lower never imports higher), see ``docs/architecture.md``:

1. :mod:`qlight.physics` — pure, seeded models (emitter, photon streams, chip, optics, stage).
2. :mod:`qlight.timetags` — time-tag data model, file formats, kernels.
3. :mod:`qlight.instruments` — typed instrument protocols and their backends (the twin in ``sim``).
5. :mod:`qlight.device` — composition root and (later) the device service.
6. :mod:`qlight.cli` — the ``qlight`` command.
"""

__version__ = "0.1.0"
