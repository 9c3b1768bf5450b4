"""The notebook executor's shell waits (msglib.grading.notebooks.poll_in_slices).

A reply that already sits on the shell socket must be found by the next short poll, not after a whole cell
timeout: a one-shot wake-up lost once cost 60 s per stalled cell before.
"""
from __future__ import annotations

import asyncio
from queue import Empty

import pytest

from msglib.grading.notebooks import SHELL_POLL_SLICE_S, poll_in_slices


class LostWakeupChannel:
    """A shell channel whose first poll misses a reply that is already there (the lost wake-up)."""

    def __init__(self, misses: int = 1) -> None:
        self.timeouts: list[float | None] = []
        self.misses = misses

    async def get_msg(self, timeout: float | None = None) -> dict:
        self.timeouts.append(timeout)
        if len(self.timeouts) <= self.misses:
            raise Empty          # a real socket would have slept the whole timeout here
        return {"msg_type": "execute_reply"}


class SilentChannel:
    """No reply ever comes."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_msg(self, timeout: float | None = None) -> dict:
        self.calls += 1
        await asyncio.sleep(timeout or 0)
        raise Empty


def test_a_reply_missed_by_one_poll_is_found_by_the_next_short_one():
    channel = LostWakeupChannel(misses=1)
    poll_in_slices(channel)
    reply = asyncio.run(channel.get_msg(timeout=60))
    assert reply == {"msg_type": "execute_reply"}
    assert len(channel.timeouts) == 2
    assert all(t is not None and t <= SHELL_POLL_SLICE_S for t in channel.timeouts)   # never one 60 s wait


def test_no_timeout_still_waits_in_slices_until_a_reply():
    channel = LostWakeupChannel(misses=3)
    poll_in_slices(channel)
    assert asyncio.run(channel.get_msg(timeout=None))["msg_type"] == "execute_reply"
    assert channel.timeouts == [SHELL_POLL_SLICE_S] * 4


def test_the_overall_timeout_still_ends_in_empty():
    channel = SilentChannel()
    poll_in_slices(channel, slice_s=0.01)
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0.05))
    assert channel.calls >= 2          # it polled again rather than once for the whole timeout
