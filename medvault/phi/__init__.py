"""Finding PHI in plaintext files: detectors (pure functions) and bounded file readers."""
