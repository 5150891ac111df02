"""The lost-drive evidence pack as report.json, for records systems and other tools.

The output is exactly `asdict(report)` in field order, so docs/lost-report.schema.json and
lost_model.py describe the same thing; non-ASCII names stay readable.
"""

from __future__ import annotations

import dataclasses
import json

from medvault.reports.lost_model import LostDriveReport


def render_json(report: LostDriveReport) -> str:
    """report.json: indented, in model field order, ending with a newline."""
    return (
        json.dumps(dataclasses.asdict(report), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    )
