"""Layer 4: characterization and certification.

Fits with honest uncertainties and the emitter certificate (``docs/characterization.md``):
``g2fit``, ``lifetime`` (+ ``lifetime_irf``, measured IRF), ``saturation``, ``polarization``,
``stability``, ``spectrum``, ``blinking`` (+ ``dwell``), ``uncertainty`` (+ ``devfit``),
``certificate`` and ``report``.
"""
