"""A worker in a new consumer group re-reads the whole topic from offset 0: every event is
delivered again, and the read models do not change."""

from __future__ import annotations

import pytest

from tests.helpers import message, wait_for

pytestmark = pytest.mark.stack


def test_reconsuming_the_topic_from_zero_changes_nothing(client, stack):
    ids = [client.start_session()["session_id"] for _ in range(3)]
    for session_id in ids:
        client.append(session_id, message("one"), message("two", role="ai"))
    for session_id in ids:
        client.wait_listed(session_id, message_count=2)
    before = client.sql("SELECT * FROM session_list ORDER BY session_id")
    applied_before = dict(client.sql("SELECT projection, events_applied FROM projection_status"))

    stack.services["worker"].stop()
    stack.extra_env["LEDGER_WORKER_GROUP"] = "replay-from-zero"
    stack.start_service("worker")
    # The new group's worker must have read everything again: wait until it has caught up
    # with the topic by watching its committed progress, then compare.
    wait_for(
        lambda: client.sql(
            "SELECT 1 FROM stream_workers WHERE group_id = 'replay-from-zero'"
            " AND assigned_at IS NOT NULL"
        ),
        what="replay worker assigned",
    )
    probe = client.start_session()["session_id"]
    client.wait_listed(probe, message_count=0)  # delivered after every earlier event

    after = client.sql(
        "SELECT * FROM session_list WHERE session_id <> %s ORDER BY session_id", (probe,)
    )
    assert after == before
    # Every read model applied the probe's one event, and nothing of what it had before.
    applied_after = dict(client.sql("SELECT projection, events_applied FROM projection_status"))
    assert applied_after == {name: count + 1 for name, count in applied_before.items()}
