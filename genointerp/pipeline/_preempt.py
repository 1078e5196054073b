"""The scheduler's warning signals as an exception: SIGUSR1 and SIGTERM raise ``Preempted``.

A SLURM job asks for a warning before its time limit (``--signal=B:USR1@120``) and is sent
SIGTERM when it is preempted or cancelled.  Inside :func:`preemptible` either signal raises
:class:`genointerp.errors.Preempted` in the main thread, at the next bytecode it runs, so the
stage in progress saves what it can resume from (its ``except Preempted`` or ``finally``) and the
command exits with :data:`genointerp.errors.PREEMPTED_EXIT`; the job script then requeues the job.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import Preempted

logger = logging.getLogger(__name__)

WARNING_SIGNALS = ("SIGUSR1", "SIGTERM")
"""Signals that mean "save and stop": SLURM's warning (``--signal``) and its termination."""


@dataclass
class Preemption:
    """What :func:`preemptible` received: the signals, in order (empty when none came)."""

    signals: list[str] = field(default_factory=list)
    """Names of the signals received, e.g. ``["SIGUSR1"]``."""

    @property
    def requested(self) -> bool:
        """Whether the scheduler asked the job to stop."""
        return bool(self.signals)


@contextmanager
def preemptible(signals: tuple[str, ...] = WARNING_SIGNALS) -> Iterator[Preemption]:
    """Raise :class:`~genointerp.errors.Preempted` in the main thread on the given signals.

    The first signal raises; later ones are recorded but do not raise again, so the save that
    follows the first is not itself interrupted.  The previous handlers are restored on exit.
    Outside the main thread (where Python cannot install handlers) this does nothing.

    Parameters
    ----------
    signals
        Signal names; by default SIGUSR1 (SLURM's warning) and SIGTERM.

    Examples
    --------
    >>> import os, signal
    >>> from genointerp.errors import Preempted
    >>> try:
    ...     with preemptible() as state:
    ...         os.kill(os.getpid(), signal.SIGUSR1)
    ...         for _ in range(10**6):
    ...             pass
    ... except Preempted as stop:
    ...     print(stop.signal_name, state.signals)
    SIGUSR1 ['SIGUSR1']
    """
    state = Preemption()
    if threading.current_thread() is not threading.main_thread():
        logger.debug("not the main thread: scheduler signals are left to their handlers")
        yield state
        return

    def handle(signum, frame) -> None:
        name = signal.Signals(signum).name
        state.signals.append(name)
        if len(state.signals) == 1:
            logger.warning("%s received: saving progress and stopping", name)
            raise Preempted(name)
        logger.warning("%s received again while saving; still saving", name)

    previous = {}
    try:
        for name in signals:
            number = getattr(signal, name)
            previous[number] = signal.signal(number, handle)
        yield state
    finally:
        for number, handler in previous.items():
            # None: a handler not installed from Python; the default is the closest we can do
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
