"""The storage engine: unlocking a vault, its catalog, writing and committing packs, the
path index, reading entries back and landing extracted files (docs/ARCHITECTURE.md)."""
