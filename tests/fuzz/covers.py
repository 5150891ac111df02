"""The code each fuzz target is meant to reach. run.py instruments only these modules for
coverage (instrumenting every medvault module costs seconds of start-up per run). No
medvault import here: run.py reads this before the instrumented import of the targets."""

from __future__ import annotations

_FORMAT = ["medvault.format.binary", "medvault.format.canonical_json", "json"]
COVERS: dict[str, list[str]] = {
    "vault_header": [*_FORMAT, "medvault.format.vault_header", "medvault.keys", "base64"],
    "header_body": [*_FORMAT, "medvault.format.vault_header", "medvault.keys", "base64"],
    "entry": [*_FORMAT, "medvault.format.entry", "medvault.format.meta", "medvault.store.entries"],
    "entry_meta": [*_FORMAT, "medvault.format.meta", "medvault.engine.catalog", "unicodedata"],
    "meta": [*_FORMAT, "medvault.format.meta", "unicodedata"],
    "pack_prelude": [*_FORMAT, "medvault.format.pack", "base64"],
    "pack_file": [
        *_FORMAT,
        "medvault.format.pack",
        "medvault.format.entry",
        "medvault.format.meta",
        "medvault.store.packs",
        "medvault.store.entries",
        "medvault.engine.catalog",
        "medvault.vault.reading",
        "medvault.engine.entry_reading",
    ],
    "index_journal": [*_FORMAT, "medvault.format.index_journal", "medvault.store.journal"],
    "index_record": [
        *_FORMAT,
        "medvault.store.journal",
        "medvault.format.index_records",
        "medvault.engine.catalog",
    ],
    "path_index": [
        *_FORMAT,
        "medvault.format.path_index_file",
        "medvault.format.index_journal",
        "medvault.engine.path_index",
    ],
    "custody_log": [*_FORMAT, "medvault.format.custody_log", "medvault.store.drive_log"],
    "custody_event": [*_FORMAT, "medvault.format.custody_log", "medvault.store.drive_log"],
    "org_config": ["medvault.config", "medvault.vault.org_keys", "tomllib", "base64"],
    "shares": ["medvault.keys.shares", "medvault.cli.shares_input", "shamir_mnemonic"],
    "recovery_code": ["medvault.keys.recovery_code", "re"],
    "planted": [*_FORMAT, "medvault.format.pack"],
}
