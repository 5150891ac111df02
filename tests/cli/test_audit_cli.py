"""`medvault audit ...`, `custody ...` and `registry init-roles` as a user runs them,
including a whole workstation flow against a real PostgreSQL registry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy.engine import make_url

from medvault.registry.sql import Registry
from tests.conftest import Workspace
from tests.support.pg import PgServer


def _filled(ws: Workspace, drive: Path, tmp_path: Path, **env: str) -> str:
    src = tmp_path / "exports"
    src.mkdir(exist_ok=True)
    (src / "a.csv").write_text("1,2\n")
    created = ws.cli("create", drive, "--label", "=HYPERLINK(1)", "--json", extra_env=env)
    assert created.returncode == 0, created.stderr
    ws.cli("--as", "Dr Lee", "add", drive, src, check=True, extra_env=env)
    return str(json.loads(created.stdout)["vault_id"])


def test_audit_verify_names_the_edited_event(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    _filled(ws, drive, tmp_path)
    intact = ws.cli("audit", "verify")
    assert intact.returncode == 0
    assert "intact: 2 event(s)" in intact.stdout
    head = ws.cli("audit", "head", "--json", check=True)
    assert json.loads(head.stdout)["events"] == 2

    with ws.registry().engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET details = '{}' WHERE seq = 2")
    broken = ws.cli("audit", "verify", "--json")
    assert broken.returncode == 22
    assert json.loads(broken.stdout)["first_bad_event"] == 2
    assert "event 2 was altered" in broken.stderr


def test_an_anchored_head_catches_a_cut_chain(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    _filled(ws, drive, tmp_path)
    anchored = ws.cli("audit", "head", check=True).stdout.split()[1]
    assert ws.cli("audit", "verify", "--head", anchored).returncode == 0
    with ws.registry().engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM events WHERE seq = 2")
    cut = ws.cli("audit", "verify", "--head", anchored)
    assert cut.returncode == 22
    assert "anchored head is no longer in the chain" in cut.stderr


def test_audit_report_is_the_media_movement_record(
    ws: Workspace, drive: Path, tmp_path: Path
) -> None:
    vault_id = _filled(ws, drive, tmp_path)
    ws.cli("custody", "transfer", vault_id, "--to", "Courier Co", "--reason", "to lab", check=True)
    out = ws.cli("audit", "report", "--since", "2020-01-01", check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["action"] for r in rows] == ["create", "add", "transfer"]
    assert rows[1]["person"] == "Dr Lee"
    assert rows[0]["custodian_after"] == rows[1]["custodian_after"] != "Courier Co"
    assert rows[2]["custodian_after"] == "Courier Co"
    assert rows[0]["vault_label"] == "'=HYPERLINK(1)"  # never a live formula
    assert all(r["vault_id"] == vault_id for r in rows)
    none = ws.cli("audit", "report", "--since", "2020-01-01", "--until", "2020-02-01", check=True)
    assert len(list(csv.DictReader(io.StringIO(none.stdout)))) == 0
    page = tmp_path / "movements.html"
    ws.cli(
        "audit", "report", "--since", "2020-01-01", "--format", "html", "--out", page, check=True
    )
    text = page.read_text()
    assert "<table>" in text and "Courier Co" in text and "164.310(d)(1)" in text
    assert "=HYPERLINK(1)" in text  # escaped as text in HTML, shown as it was typed
    assert ws.cli("audit", "report", "--since", "yesterday").returncode == 2
    assert ws.cli("audit", "report", "--since", "2999-01-01").returncode == 2
    upto = ws.cli("audit", "report", "--since", "2020-01-01", "--until", "2999-01-01", check=True)
    assert len(list(csv.DictReader(io.StringIO(upto.stdout)))) == 3
    bad_person = ws.cli("--as", "x" * 201, "audit", "head")
    assert bad_person.returncode == 2


def test_custody_show_and_transfer(ws: Workspace, drive: Path, tmp_path: Path) -> None:
    vault_id = _filled(ws, drive, tmp_path)
    ws.cli("custody", "transfer", drive, "--to", "bob", "--reason", "handover", check=True)
    view = json.loads(ws.cli("custody", "show", drive, "--json", check=True).stdout)
    assert view["vault_id"] == vault_id
    assert view["current_custodian"] == "bob"
    assert [t["action"] for t in view["timeline"]] == ["create", "add", "transfer"]
    assert view["timeline"][2]["details"]["reason"] == "handover"
    assert view["last_seen"]["at"] == view["timeline"][2]["at"]
    by_id = ws.cli("custody", "show", vault_id, check=True).stdout
    assert "Current custodian: bob" in by_id
    assert ws.cli("custody", "show", "e" * 32).returncode == 16
    missing_reason = ws.cli("custody", "transfer", vault_id, "--to", "x")
    assert missing_reason.returncode == 2


def test_whole_flow_on_postgresql_with_a_workstation_role(
    ws: Workspace, drive: Path, tmp_path: Path, pg_server: PgServer, pg_url: str
) -> None:
    owner = {"MEDVAULT_REGISTRY": pg_url}
    # The owner's first use creates the schema (migrations); then the role is set up.
    ws.cli("registry", "init-roles", "--role", "ws_role", extra_env=owner, check=True)
    dbname = make_url(pg_url).database
    assert dbname is not None
    station = {"MEDVAULT_REGISTRY": pg_server.url_for("ws_role", dbname)}
    vault_id = _filled(ws, drive, tmp_path, **station)
    ws.cli("extract", drive, "--to", tmp_path / "out", check=True, extra_env=station)
    ws.cli(
        "custody", "transfer", drive, "--to", "bob", "--reason", "r", check=True, extra_env=station
    )
    assert ws.cli("audit", "verify", extra_env=station).returncode == 0
    registry = Registry.for_url(pg_url)
    assert [s.event.action for s in registry.events(vault_id)] == [
        "create", "add", "extract", "transfer",
    ]  # fmt: skip
    assert registry.vault_status(vault_id) == "active"
    assert not (ws.home / "registry.sqlite").exists()  # nothing went to the local default


def test_org_config_names_the_central_registry(
    ws: Workspace, drive: Path, tmp_path: Path, pg_url: str
) -> None:
    org_toml = ws.home / "org.toml"
    original = org_toml.read_text()
    top, tables = original.split("[[escrow_keys]]", 1)
    org_toml.write_text(original + f'registry = "{pg_url}"\n')
    assert ws.cli("audit", "head").returncode == 5  # inside a table: refused, not ignored
    org_toml.write_text(f'{top}registry = "{pg_url}"\n[[escrow_keys]]{tables}')
    vault_id = _filled(ws, drive, tmp_path)
    assert not (ws.home / "registry.sqlite").exists()
    actions = [s.event.action for s in Registry.for_url(pg_url).events(vault_id)]
    assert actions == ["create", "add"]
    # MEDVAULT_REGISTRY still wins over the org config.
    local = {"MEDVAULT_REGISTRY": f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"}
    assert ws.cli("audit", "head", extra_env=local, check=True).stdout.startswith("0 ")
    # org.toml is public: a password in it is refused.
    org_toml.write_text(f'{top}registry = "postgresql://ws:hunter2@db/mv"\n[[escrow_keys]]{tables}')
    refused = ws.cli("audit", "head")
    assert refused.returncode == 5
    assert "must not hold a password" in refused.stderr
    assert "hunter2" not in refused.stderr
