"""The kernel: errors, identifiers, the clock and cursors. It imports nothing else of ``shared``."""
