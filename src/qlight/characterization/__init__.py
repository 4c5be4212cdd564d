"""Layer 4: characterization and certification.

Fits with honest uncertainties and the emitter certificate (``docs/characterization.md``):
``g2fit``, ``lifetime``, ``saturation``, ``polarization``, ``stability``, ``uncertainty``,
``certificate`` and ``report``.
"""
