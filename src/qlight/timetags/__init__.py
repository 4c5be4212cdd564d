"""Layer 2: time-tag data model, file formats and correlation kernels."""
