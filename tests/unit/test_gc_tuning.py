import gc

import pytest

from infra.gc_tuning import YOUNG_THRESHOLD, tune_garbage_collection


@pytest.fixture
def restored_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_young_collections_are_rarer_and_startup_objects_frozen(restored_gc):
    tune_garbage_collection()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0


def test_cycles_are_still_collected(restored_gc):
    tune_garbage_collection()

    class Node:
        pass

    node = Node()
    node.self = node
    del node
    assert gc.collect() > 0
