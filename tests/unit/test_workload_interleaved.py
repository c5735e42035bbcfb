"""bench.workload.interleaved: conversations mixed as live traffic mixes them."""

from bench.workload import interleaved


def test_round_robin_over_the_concurrent_ones_the_next_joining_as_one_ends():
    conversations = [["a1", "a2", "a3"], ["b1"], ["c1", "c2"]]
    assert list(interleaved(conversations, 2)) == ["a1", "b1", "a2", "a3", "c1", "c2"]


def test_every_item_once_and_each_conversation_in_its_own_order():
    conversations = [[f"{n}:{i}" for i in range(n % 7 + 1)] for n in range(40)]
    mixed = list(interleaved(conversations, 5))
    assert sorted(mixed) == sorted(item for c in conversations for item in c)
    for conversation in conversations:
        assert [item for item in mixed if item in conversation] == conversation


def test_one_at_a_time_is_the_conversations_in_turn():
    assert list(interleaved([[1, 2], [3]], 1)) == [1, 2, 3]
