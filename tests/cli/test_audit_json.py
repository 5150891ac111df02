"""`audit report` for programs and people: `--json` gives each movement
with its time in ISO 8601 with an offset and its counts as values; CSV and HTML say
`CA=550, NV=70`, never Python's text for a dict or a list."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import Workspace

REPR_MARKS = ("{'", "':", "['")


def _history(ws: Workspace, drive: Path, tmp_path: Path) -> str:
    vault_id = ws.create_fast(drive, "Lab exports")
    declared = ws.cli(
        "custody", "declare", vault_id, "--individuals", "620", "--state", "CA=550",
        "--state", "NV=70", "--category", "lab-results", "--category", "imaging", check=True,
    )  # fmt: skip
    assert "CA=550, NV=70" in declared.stdout
    assert not any(mark in declared.stdout for mark in REPR_MARKS)
    ws.cli("custody", "transfer", vault_id, "--to", "Courier Co", "--reason", "r", check=True)
    ws.cli(
        "incident", "lost", vault_id, "--discovered-at", "2026-11-20T08:30:00-08:00",
        "--reported-by", "Pat", "--out", tmp_path / "pack", check=True,
    )  # fmt: skip
    return vault_id


def _no_repr(text: str) -> None:
    for mark in REPR_MARKS:
        assert mark not in text, mark


def test_json_times_carry_their_offset_and_details_are_values(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = _history(ws, drive, tmp_path)
    out = ws.cli("audit", "report", "--since", "2020-01-01", "--json", check=True).stdout
    _no_repr(out)
    report = json.loads(out)
    assert report["since"] == "2020-01-01T00:00:00.000000+00:00"
    assert report["until"] is None
    events = report["events"]
    assert [e["action"] for e in events] == [
        "create", "declare", "transfer", "lost", "evidence-pack",
    ]  # fmt: skip
    for event in events:
        moment = datetime.fromisoformat(event["time"])
        assert moment.utcoffset() == timedelta(0), event["time"]
        assert event["time"].endswith("+00:00")
        assert event["vault_id"] == vault_id
        assert "time_utc" not in event
    declared = events[1]["details"]
    assert declared["states"] == {"CA": 550, "NV": 70}
    assert declared["individuals"] == 620
    assert "CA=550, NV=70" in events[1]["summary"]
    # The discovery was given at -08:00; the registry holds it in UTC and says so.
    assert events[3]["details"]["discovered_at"] == "2026-11-20T16:30:00.000000Z"
    assert events[2]["custodian_after"] == "Courier Co"
    same = ws.cli("audit", "report", "--since", "2020-01-01", "--format", "json", check=True)
    assert json.loads(same.stdout) == report
    to_file = tmp_path / "movements.json"
    ws.cli("audit", "report", "--since", "2020-01-01", "--json", "--out", to_file, check=True)
    assert json.loads(to_file.read_text()) == report


def test_csv_and_html_say_states_and_categories_in_words(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    _history(ws, drive, tmp_path)
    text = ws.cli("audit", "report", "--since", "2020-01-01", check=True).stdout
    _no_repr(text)
    rows = list(csv.DictReader(io.StringIO(text)))
    summary = next(r["summary"] for r in rows if r["action"] == "declare")
    assert "CA=550, NV=70" in summary
    assert "imaging, lab-results" in summary
    assert all(r["time_utc"].endswith("Z") for r in rows)  # the zone is in every time
    page = tmp_path / "movements.html"
    ws.cli(
        "audit", "report", "--since", "2020-01-01", "--format", "html", "--out", page, check=True
    )
    html = page.read_text()
    _no_repr(html.replace("&#x27;", "'"))
    assert "CA=550, NV=70" in html
    assert "(UTC)" in html
