"""CPU work on message content: on the event loop when the message is small, in a thread
when it is big.

Parsing and scanning a message of a few KB takes well under a millisecond; sending it to a
worker thread costs about as much again in hand-offs, and the thread then competes with the
event loop for the GIL. A big or pathological message could stall the loop for seconds, so
everything above ``INLINE_LIMIT`` still goes to a thread, where the loop keeps serving other
requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

INLINE_LIMIT = 64 * 1024  # bytes of raw message; a 2 KB message parses and scans in ~1 ms

P = ParamSpec("P")
T = TypeVar("T")


async def run_sized(size: int, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` for a message of ``size`` bytes, inline or in a thread."""
    if size <= INLINE_LIMIT:
        return fn(*args, **kwargs)
    return await asyncio.to_thread(fn, *args, **kwargs)
