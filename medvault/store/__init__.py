"""Drive I/O: where things live in MEDVAULT/, crash-safe writes, the writer lock, packs."""
