"""When the relay reads the log again after a batch (``consumers.relay.pause_after``)."""

from consumers.relay import pause_after


def test_an_empty_read_waits_for_the_store_to_notify():
    assert pause_after(0, batch_size=1000, linger=0.02) is None


def test_a_full_batch_reads_again_at_once():
    assert pause_after(1000, batch_size=1000, linger=0.02) == 0.0


def test_a_partial_batch_lingers_so_the_next_one_fills():
    assert pause_after(37, batch_size=1000, linger=0.02) == 0.02


def test_no_linger_reads_again_at_once():
    assert pause_after(37, batch_size=1000, linger=0.0) == 0.0
