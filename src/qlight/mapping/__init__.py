"""Layer 4: deterministic spatial mapping.

Discovery, localization, registry, frame registration, navigation and drift tracking.
"""
