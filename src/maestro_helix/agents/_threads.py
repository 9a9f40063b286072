"""Where sync agents run: daemon threads, so a hung agent never keeps a process from exiting.

``asyncio.to_thread`` uses the loop's default executor, whose threads the interpreter joins at
exit: one agent stuck in a call would keep a SIGTERM'd process alive forever. These threads are
daemons; the pool grows when every thread is busy (a hung agent costs one thread, not the pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["run_in_thread"]

T = TypeVar("T")

_MAX_THREADS = 256
_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class _Pool:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, job: _Job) -> None:
        with self._lock:
            if self._idle == 0 and self._threads < _MAX_THREADS:
                self._threads += 1
                threading.Thread(target=self._serve, name="maestro-agent", daemon=True).start()
            else:
                self._idle -= 1 if self._idle else 0
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:
            fn, args, loop, fut = self._jobs.get()
            try:
                result: Any = fn(*args)
            except BaseException as e:  # handed to the awaiting task, whatever it is
                _complete(loop, fut, None, e)
            else:
                _complete(loop, fut, result, None)
            with self._lock:
                self._idle += 1


def _complete(
    loop: asyncio.AbstractEventLoop,
    fut: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    def done() -> None:
        if fut.done():  # the step timed out or was cancelled meanwhile
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        loop.call_soon_threadsafe(done)


_pool = _Pool()


async def run_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a daemon thread and await its result (cancellable: the thread
    finishes on its own, its result is dropped)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()
    _pool.submit((fn, args, loop, fut))
    return await fut
