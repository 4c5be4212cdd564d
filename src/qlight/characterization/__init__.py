"""Layer 4: characterization and certification.

Fits with honest uncertainties and the emitter certificate.
"""
