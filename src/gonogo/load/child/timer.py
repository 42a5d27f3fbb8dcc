"""The scheduler's precise wake: a timerfd armed for the due time (Linux), else gevent.sleep."""

from __future__ import annotations

import contextlib
import ctypes
import os
import time

import gevent

# Below this wait, arrivals are so dense that a wake for each costs more than it buys.
PRECISE_WAKE_MIN_S = 0.0005


class Waker:
    """Sleeps a scenario's scheduler until an arrival is due, to within ~0.1 ms.

    gevent.sleep rounds every wait up to libev's epoll resolution, 1 ms: iterations start
    uniformly 0-1 ms late. A timerfd armed for the due time (CLOCK_MONOTONIC, as
    time.perf_counter) wakes epoll itself, on time, for the same CPU. At dense schedules (a
    wait under PRECISE_WAKE_MIN_S) a wake per arrival costs more CPU than it buys, so those
    wait for the loop's next turn and start in small bursts, at most ~1 ms late. Linux
    only; elsewhere (or if the C library will not give a timerfd) every wait is gevent.sleep."""

    def __init__(self) -> None:
        self._fd = -1
        try:
            # The process's own symbols (libc among them): no find_library, which runs
            # ldconfig in a subprocess.
            libc = ctypes.CDLL(None, use_errno=True)
            self._settime = libc.timerfd_settime
            self._fd = int(libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC))
        except (OSError, AttributeError, TypeError):
            self._fd = -1
        if self._fd >= 0:
            self._spec = _ITimerSpec()
            self._hub = gevent.get_hub()
            self._watcher = self._hub.loop.io(self._fd, 1)

    def sleep_until(self, due: float) -> None:
        wait = due - time.perf_counter()
        if wait <= 0:
            return
        if self._fd < 0 or wait < PRECISE_WAKE_MIN_S:
            gevent.sleep(wait)
            return
        if wait > 0.002:  # the loop's timer for the bulk, the timerfd for the last stretch
            gevent.sleep(wait - 0.0015)
            if due <= time.perf_counter():
                return
        seconds = int(due)
        self._spec.it_value.tv_sec = seconds
        self._spec.it_value.tv_nsec = int((due - seconds) * 1e9)
        if self._settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            gevent.sleep(max(0.0, due - time.perf_counter()))
            return
        self._hub.wait(self._watcher)
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)  # the expiry count: read, so the fd is quiet again

    def close(self) -> None:
        if self._fd >= 0:
            self._watcher.close()
            os.close(self._fd)
            self._fd = -1


_CLOCK_MONOTONIC = 1  # <time.h>; time.perf_counter reads this clock on Linux
_TFD_NONBLOCK, _TFD_CLOEXEC, _TFD_TIMER_ABSTIME = 0o4000, 0o2000000, 1  # <sys/timerfd.h>


class _TimeSpec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("it_interval", _TimeSpec), ("it_value", _TimeSpec)]
