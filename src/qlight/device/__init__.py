"""Layer 5: the composition root (``factory``) and, later, the device service."""
