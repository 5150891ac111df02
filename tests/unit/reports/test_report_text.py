"""The lost-drive report shows declared states and categories
as people write them (`CA=550, NV=70`), never as Python repr text (`{'CA': 550}`), in
report.html, report.json and the custody timeline's summaries."""

from __future__ import annotations

from pathlib import Path

from medvault.reports import lost
from medvault.reports.render_html import render_html
from medvault.reports.render_json import render_json
from tests.conftest import Workspace
from tests.support.declared_loss import LA, declared_loss_report

REPR_MARKS = ("{'", "':", "['", "',")


def _repr_free(text: str) -> None:
    found = [mark for mark in REPR_MARKS if mark in text]
    assert not found, f"Python repr text {found} in: {text[:200]}"


def test_report_has_no_python_repr_text(ws: Workspace, drive: Path) -> None:
    report = declared_loss_report(ws, drive, LA)
    declared = next(t for t in report.custody.timeline if t.action == "declare")
    assert "states: CA=550, NV=70" in declared.summary
    assert "categories: demographics, lab-results" in declared.summary
    for text in (render_html(report), render_json(report)):
        _repr_free(text)
        assert "CA=550, NV=70" in text


def test_summary_words_for_every_shape_of_detail() -> None:
    details = {
        "files": 3,
        "states": {"CA": 550, "NV": 70},
        "categories": ["labs", "notes"],
        "approvers": ("alice", "bob"),
        "where": {"host": "ws-1", "mounts": ["/media/a"]},
        "merged": True,
    }
    text = lost.summarize("declare", details)
    assert text == (
        "files=3; states: CA=550, NV=70; categories: labs, notes; where: host=ws-1, "
        "mounts=(/media/a); merged=yes; approvers: alice, bob"
    )
    _repr_free(text)


def test_plain_never_gives_repr() -> None:
    assert lost.plain({"CA": 550}) == "CA=550"
    assert lost.plain(["a", {"b": [1, 2]}]) == "a, (b=(1, 2))"
    assert lost.plain(False) == "no"
    assert lost.plain("x") == "x"
