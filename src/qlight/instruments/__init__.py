"""Layer 3: typed instrument protocols (``protocols``) and their backends (``sim`` is the twin)."""
