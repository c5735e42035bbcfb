"""``decoding_once``: the read models of one batch share one decoding of each payload."""

from __future__ import annotations

import threading

from domain.events import MessageReacted, decode_payload, decoding_once

V1_REACTION = {"message_id": "m1", "reaction": "down", "by": "Ann"}


def test_inside_a_scope_a_document_is_decoded_once():
    document = {"message_id": "m1", "reaction": "thumbs_up", "by_role": "customer"}
    with decoding_once():
        first = decode_payload("session.message_reacted", 2, document)
        with decoding_once():  # a nested scope shares the outer one's decodings
            assert decode_payload("session.message_reacted", 2, document) is first
    assert decode_payload("session.message_reacted", 2, document) is not first
    assert decode_payload("session.message_reacted", 2, document) == first


def test_upcasting_still_applies_and_is_keyed_by_schema_version():
    with decoding_once():
        upcast = decode_payload("session.message_reacted", 1, dict(V1_REACTION))
        equal_document = dict(V1_REACTION)
        assert decode_payload("session.message_reacted", 1, equal_document) == upcast
    assert upcast == MessageReacted(
        message_id="m1", reaction="thumbs_down", by_role="customer", by="Ann"
    )


def test_a_scope_belongs_to_its_thread():
    document = {"message_id": "m1", "reaction": "thumbs_up", "by_role": "customer"}
    seen = []
    with decoding_once():
        mine = decode_payload("session.message_reacted", 2, document)
        other = threading.Thread(
            target=lambda: seen.append(decode_payload("session.message_reacted", 2, document))
        )
        other.start()
        other.join()
    assert seen[0] == mine and seen[0] is not mine
