"""Trees of files as tests compare them."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digests(root: Path) -> dict[str, str]:
    """Every file under ROOT ('/'-separated relative path) with its SHA-256: 'the folder
    as it was', to compare after a command that must not have changed it."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def share_args(home: Path, *names: str) -> list[str | Path]:
    """`--share FILE` for each named security admin's share in HOME/shares."""
    args: list[str | Path] = []
    for name in names:
        args += ["--share", home / "shares" / f"{name}.txt"]
    return args


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Make the new folder ROOT holding FILES (relative path -> text or bytes, folders made
    as needed); returns ROOT, as a source for `add`."""
    root.mkdir()
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root
