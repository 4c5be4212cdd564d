"""Layer 1: pure, seeded physical models of the twin (no I/O, no instruments, no clock)."""
