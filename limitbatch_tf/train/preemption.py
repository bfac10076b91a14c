"""SIGTERM/SIGINT as a request to stop after the current host loop.

Preemptible machines (TPU pods, spot VMs) send SIGTERM before they go. The
loop finishes the steps in flight, saves a checkpoint and results.json with
status "preempted", and exits with EXIT_PREEMPTED so a scheduler can tell a
preemption from a failure and simply start the same command again.
"""
from __future__ import annotations

import signal
import threading


class PreemptionWatcher:
    """Records termination signals while installed (main thread only)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.requested = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
