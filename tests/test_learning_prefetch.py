"""The training-batch prefetcher (ispengine.learning.prefetch): order, random draws,
checkpoint state and shutdown."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ispengine.learning.prefetch import Prefetcher


def drawing(rng: np.random.Generator, made: list[int] | None = None):
    def make(index: int) -> tuple[int, np.ndarray]:
        if made is not None:
            made.append(index)
        return index, rng.random(3)

    return make


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ispengine-prefetch"]


@pytest.mark.parametrize("depth", [0, 1, 4])
def test_batches_come_in_order_with_the_same_draws(depth):
    reference = np.random.default_rng(3)
    expected = [reference.random(3) for _ in range(10)]
    rng = np.random.default_rng(3)
    with Prefetcher(drawing(rng), depth, rng) as batches:
        got = [batches.get(index) for index in range(5, 15)]
    assert [index for index, _ in got] == list(range(5, 15))
    for (_, values), wanted in zip(got, expected, strict=True):
        np.testing.assert_array_equal(values, wanted)
    assert not prefetch_threads()


def test_the_producer_stays_at_most_depth_ahead():
    made: list[int] = []
    rng = np.random.default_rng(0)
    with Prefetcher(drawing(rng, made), 2, rng) as batches:
        batches.get(0)
        time.sleep(0.3)
        # taken 1; queued at most 2; one more may be made and waiting for room
        assert max(made) <= 3


def test_the_checkpoint_state_is_after_the_last_batch_taken():
    rng = np.random.default_rng(7)
    with Prefetcher(drawing(rng), 3, rng) as batches:
        for index in range(4):
            batches.get(index)
        time.sleep(0.2)  # the producer has run ahead
        state = batches.rng.bit_generator.state
    reference = np.random.default_rng(7)
    for _ in range(4):
        reference.random(3)
    assert state == reference.bit_generator.state
    # closing set the Generator back: what draws next draws as without prefetching
    assert rng.random() == reference.random()


def test_a_restored_state_is_where_the_batches_start():
    rng = np.random.default_rng(1)
    saved = np.random.default_rng(99).bit_generator.state
    batches = Prefetcher(drawing(rng), 2, rng)
    batches.rng.bit_generator.state = saved
    with batches:
        _, values = batches.get(0)
        with pytest.raises(RuntimeError):
            batches.rng.bit_generator.state = saved  # too late once started
    np.testing.assert_array_equal(values, np.random.default_rng(99).random(3))


def test_an_error_in_the_producer_is_raised_in_the_step_and_the_thread_ends():
    def make(index: int) -> int:
        if index == 2:
            raise ValueError("broken crop")
        return index

    batches = Prefetcher(make, 3)
    assert batches.get(0) == 0 and batches.get(1) == 1
    with pytest.raises(ValueError, match="broken crop"):
        batches.get(2)
    assert not batches.running and not prefetch_threads()


def test_an_interrupted_loop_stops_the_thread():
    rng = np.random.default_rng(0)
    with pytest.raises(KeyboardInterrupt), Prefetcher(drawing(rng), 2, rng) as batches:
        batches.get(0)
        assert batches.running
        raise KeyboardInterrupt
    assert not batches.running and not prefetch_threads()


def test_batches_must_be_taken_in_order():
    with Prefetcher(lambda index: index, 2) as batches:
        batches.get(0)
        with pytest.raises(RuntimeError, match="next is 1"):
            batches.get(5)


def test_a_negative_depth_is_refused():
    with pytest.raises(ValueError):
        Prefetcher(lambda index: index, -1)


def test_asking_a_closed_prefetcher_is_an_error_not_a_hang():
    rng = np.random.default_rng(0)
    batches = Prefetcher(drawing(rng), 2, rng)
    batches.get(0)
    batches.close()
    with pytest.raises(RuntimeError, match="closed"):
        batches.get(1)
    assert not prefetch_threads()


def test_failing_before_any_batch_is_taken_leaves_the_generator_as_it_was():
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state

    def make(index: int) -> float:
        rng.random(4)  # the producer draws, then fails before handing a batch over
        raise OSError("crop file unreadable")

    batches = Prefetcher(make, 2, rng)
    with pytest.raises(OSError, match="unreadable"):
        batches.get(0)
    assert rng.bit_generator.state == before
    assert not prefetch_threads()
