"""The triggers that log which quarter-hours' calls changed (crm_core.call_rollup_models), per dialect.

A migration that rebuilds ``activities`` on SQLite (``batch_alter_table`` copies the table) drops its triggers: it must
call ``create_triggers`` again (tests/test_migrations checks they are there at head).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

__all__ = ["REPORTED_COLUMNS", "TRIGGERS", "create_triggers", "drop_triggers"]

TRIGGERS = ("call_sums_log_insert", "call_sums_log_update", "call_sums_log_delete")

# What the call sums read (callcenter.reports.call_sums_store): an update of anything else (a recording, a transcript,
# a disposition, the body) logs nothing.
REPORTED_COLUMNS = (
    "kind", "direction", "started_at", "ended_at", "result", "wait_s", "talk_s", "wrapup_s", "routed_team", "did",
    "agent_ext", "queue", "transferred", "from_e164", "next_call_at", "end_estimated",
)


def _pg_quarter(column: str) -> str:
    return f"(floor(date_part('epoch', {column}) / 900) * 900)::bigint"


def _sqlite_quarter(column: str) -> str:
    # Whole epoch seconds of the stored text cut to the second (strftime rounds fractions to the millisecond, so
    # 09:14:59.9999 would be 09:15:00), floored to the quarter-hour (SQLite's % truncates towards zero).
    e = f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"
    return f"({e} - (({e} % 900) + 900) % 900)"


def _inbound(row: str) -> str:
    return f"{row}.kind = 'call' AND {row}.direction = 'inbound'"


def _changed(old: str, new: str, distinct: str) -> str:
    return " OR ".join(f"{old}.{c} {distinct} {new}.{c}" for c in REPORTED_COLUMNS)


def _pg_statements() -> list[str]:
    # Inserts and deletes statement-level with transition tables: a COPY or a bulk DELETE logs each quarter-hour once,
    # not once per row. Updates row-level: their WHEN compares the reported columns before the function runs, and a
    # statement-level one would have to join the old and new rows, which the planner cannot estimate (no statistics
    # on transition tables): a nested loop over a bulk update's rows.
    statements = f"""
CREATE OR REPLACE FUNCTION call_sums_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO call_sums_changes (quarter_s)
    SELECT DISTINCT {_pg_quarter('n.started_at')} FROM new_rows n WHERE {_inbound('n')};
  ELSE
    INSERT INTO call_sums_changes (quarter_s)
    SELECT DISTINCT {_pg_quarter('o.started_at')} FROM old_rows o WHERE {_inbound('o')};
  END IF;
  RETURN NULL;
END $$"""
    old_q, new_q = _pg_quarter("OLD.started_at"), _pg_quarter("NEW.started_at")
    update = f"""
CREATE OR REPLACE FUNCTION call_sums_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF {_inbound('OLD')} THEN
    INSERT INTO call_sums_changes (quarter_s) VALUES ({old_q});
  END IF;
  IF {_inbound('NEW')} AND NOT ({_inbound('OLD')} AND {old_q} = {new_q}) THEN
    INSERT INTO call_sums_changes (quarter_s) VALUES ({new_q});
  END IF;
  RETURN NULL;
END $$"""
    return [
        statements,
        update,
        "CREATE TRIGGER call_sums_log_insert AFTER INSERT ON activities REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION call_sums_log()",
        f"CREATE TRIGGER call_sums_log_update AFTER UPDATE ON activities FOR EACH ROW "
        f"WHEN ((({_inbound('OLD')}) OR ({_inbound('NEW')})) AND ({_changed('OLD', 'NEW', 'IS DISTINCT FROM')})) "
        "EXECUTE FUNCTION call_sums_log_update()",
        "CREATE TRIGGER call_sums_log_delete AFTER DELETE ON activities REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION call_sums_log()",
    ]


def _sqlite_statements() -> list[str]:
    def log(row: str, unless: str = "") -> str:
        quarter = _sqlite_quarter(row + ".started_at")
        return f"INSERT INTO call_sums_changes (quarter_s) SELECT {quarter} WHERE {_inbound(row)}{unless};"

    old_q, new_q = _sqlite_quarter("OLD.started_at"), _sqlite_quarter("NEW.started_at")
    same_quarter = f" AND NOT ({_inbound('OLD')} AND {old_q} = {new_q})"

    return [
        f"CREATE TRIGGER call_sums_log_insert AFTER INSERT ON activities WHEN {_inbound('NEW')} BEGIN {log('NEW')} END",
        f"CREATE TRIGGER call_sums_log_update AFTER UPDATE ON activities "
        f"WHEN ({_inbound('OLD')} OR {_inbound('NEW')}) AND ({_changed('OLD', 'NEW', 'IS NOT')}) "
        f"BEGIN {log('OLD')} {log('NEW', same_quarter)} END",
        f"CREATE TRIGGER call_sums_log_delete AFTER DELETE ON activities WHEN {_inbound('OLD')} BEGIN {log('OLD')} END",
    ]


def create_triggers(connection: Connection) -> None:
    statements = _pg_statements() if connection.dialect.name == "postgresql" else _sqlite_statements()
    for statement in statements:
        connection.execute(text(statement))


def drop_triggers(connection: Connection) -> None:
    for name in TRIGGERS:
        suffix = " ON activities" if connection.dialect.name == "postgresql" else ""
        connection.execute(text(f"DROP TRIGGER IF EXISTS {name}{suffix}"))
    if connection.dialect.name == "postgresql":
        connection.execute(text("DROP FUNCTION IF EXISTS call_sums_log()"))
        connection.execute(text("DROP FUNCTION IF EXISTS call_sums_log_update()"))
