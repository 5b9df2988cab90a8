"""In-memory connections to a local lake are cursors of one process database (lake/duck.py): each is still a
connection of its own, and the Python functions registered for one serve every other, also after it closed."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from analytics_pipeline.lake.duck import connect
from analytics_pipeline.sources.conversations.resource import ConversationsResource
from analytics_pipeline.sources.conversations.spec import prepare_connection, pseudonym_of


def test_a_connection_keeps_its_own_temp_objects_variables_and_time_zone():
    first, second = connect(), connect()
    try:
        first.execute("CREATE TEMP VIEW only_mine AS SELECT 1 AS x")
        first.execute("SET VARIABLE mine = 'first'")
        first.execute("SET TimeZone = 'America/New_York'")
        with pytest.raises(duckdb.CatalogException):
            second.execute("SELECT * FROM only_mine").fetchall()
        assert second.execute("SELECT getvariable('mine')").fetchone()[0] is None
        assert second.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
        assert second.execute("SELECT epoch_to_timestamp(0)").fetchone()[0].isoformat() == "1970-01-01T00:00:00"
    finally:
        first.close()
        second.close()
    third = connect()
    assert third.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
    third.close()


def _conversations(key: str, regions: tuple[str, ...] = ("GB", "US")) -> ConversationsResource:
    return ConversationsResource(pseudonym_key=key, phone_regions=list(regions))


def test_each_connection_pseudonymises_and_redacts_with_its_own_key_and_regions_after_another_closed():
    """The functions are registered once on the process database: a connection that registered them may close
    (a function registered on it would then crash the process when called), and each later one still uses its
    own key and phone regions."""
    text = '{"user_id": "alice", "note": "appelez le 01 42 68 53 00"}'  # a French number, as the French write it
    query = "SELECT pseudonymised_user_ids(?), phone_numbers_replaced(?)"
    first = connect()
    prepare_connection(first, conversations=_conversations("k" * 32, ("FR",)))
    from_first = first.execute(query, [text, text]).fetchone()
    first.close()
    second, third = connect(), connect()
    try:
        prepare_connection(second, conversations=_conversations("k" * 32, ("FR",)))
        prepare_connection(third, conversations=_conversations("z" * 32, ("US",)))
        assert second.execute(query, [text, text]).fetchone() == from_first
        assert pseudonym_of("k" * 32)("alice") in from_first[0] and "alice" not in from_first[0]
        assert "[PHONE]" in from_first[1] and "01 42" not in from_first[1], "searched for French numbers"
        pseudonymised, searched = third.execute(query, [text, text]).fetchone()
        assert pseudonym_of("z" * 32)("alice") in pseudonymised, "the third connection's key"
        assert searched == text, "not a US number: the third connection's regions"
    finally:
        second.close()
        third.close()


def test_a_process_with_open_connections_exits_without_complaint():
    code = ("from analytics_pipeline.lake.duck import connect\n"
            "con = connect(); con.execute('SELECT 1').fetchall()\n"
            "kept = connect()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
