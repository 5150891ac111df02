"""PostgreSQL appends events on the server; ``seq`` is a BIGINT.

A workstation role that could INSERT into events chose its own seq, prev_hash, hash and
hash_version, and one forged row broke the chain for good (security review M4, L12).
Now ``medvault_append_event`` (SECURITY DEFINER, owned by whoever runs this migration:
the registry's owner; search_path pinned) takes the writers' lock, assigns the next seq,
sets prev_hash, forces the current hash version and computes the hash exactly as
registry/chain.py does; `registry init-roles` grants EXECUTE on it and no INSERT.
SQLite's INTEGER key is 64-bit already and keeps its own append path.
Revision ID: r0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0004"
down_revision = "r0003"
branch_labels = None
depends_on = None

CHAIN_LOCK_KEY = 0x6D7661756C74  # as registry/sql.py: the same lock serialises every writer
HASH_VERSION = 3  # registry/chain.py CURRENT_VERSION

# to_json(text) escapes exactly as Python's json.dumps(ensure_ascii=False) does (\" \\ \b
# \f \n \r \t, other controls as \u00xx), and the keys are in sorted order, so the body is
# chain.canonical() of the same row, byte for byte.
APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.medvault_append_event(
    p_event_id text, p_at text, p_recorded_at text, p_actor text, p_person text,
    p_host text, p_vault_id text, p_action text, p_details text, p_via text)
RETURNS TABLE (seq bigint, hash text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    last_seq bigint;
    last_hash text;
    new_seq bigint;
    body text;
    digest text;
BEGIN
    IF p_event_id IS NULL OR p_event_id !~ '^[0-9a-f]{{32}}$' THEN
        RAISE EXCEPTION 'an event id must be 32 lowercase hex digits';
    END IF;
    IF p_via IS NULL OR p_via NOT IN ('direct', 'sync') THEN
        RAISE EXCEPTION 'via must be direct or sync';
    END IF;
    PERFORM pg_advisory_xact_lock({lock});
    SELECT e.seq, e.hash INTO last_seq, last_hash
        FROM {schema}.events AS e ORDER BY e.seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    new_seq := last_seq + 1;
    body := '{{"action":' || coalesce(to_json(p_action)::text, 'null')
        || ',"actor":' || coalesce(to_json(p_actor)::text, 'null')
        || ',"at":' || coalesce(to_json(p_at)::text, 'null')
        || ',"details":' || coalesce(to_json(p_details)::text, 'null')
        || ',"event_id":' || coalesce(to_json(p_event_id)::text, 'null')
        || ',"hash_version":{version}'
        || ',"host":' || coalesce(to_json(p_host)::text, 'null')
        || ',"person":' || coalesce(to_json(p_person)::text, 'null')
        || ',"recorded_at":' || coalesce(to_json(p_recorded_at)::text, 'null')
        || ',"seq":' || new_seq::text
        || ',"vault_id":' || coalesce(to_json(p_vault_id)::text, 'null')
        || ',"via":' || coalesce(to_json(p_via)::text, 'null')
        || '}}';
    digest := encode(sha256(convert_to(last_hash || body, 'UTF8')), 'hex');
    INSERT INTO {schema}.events (seq, event_id, at, recorded_at, actor, person, host,
        vault_id, action, details, via, hash_version, prev_hash, hash)
    VALUES (new_seq, p_event_id, p_at, p_recorded_at, p_actor, p_person, p_host,
        p_vault_id, p_action, p_details, p_via, {version}, last_hash, digest);
    RETURN QUERY SELECT new_seq, digest;
END
$fn$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.alter_column("events", "seq", type_=sa.BigInteger())
    schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    # Driver SQL: the body's JSON text (":3") must not be read as bind parameters.
    bind.exec_driver_sql(
        APPEND_FUNCTION.format(schema=schema, lock=CHAIN_LOCK_KEY, version=HASH_VERSION)
    )
    # Nobody may call it until init-roles grants EXECUTE to a workstation role.
    op.execute(
        f"REVOKE ALL ON FUNCTION {schema}.medvault_append_event"
        "(text, text, text, text, text, text, text, text, text, text) FROM PUBLIC"
    )


def downgrade() -> None:
    raise NotImplementedError("the custody registry is never downgraded")
