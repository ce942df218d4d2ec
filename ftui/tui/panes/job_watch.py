"""How a pane follows a detached job: its state read off the UI thread on a timer, shown on the UI
thread, until the job is no longer running. The state is the job's files as `jobs.job_state` reads
them, so a job started elsewhere (the shell, another window) is followed the same way."""

from __future__ import annotations

from collections.abc import Callable

from textual.timer import Timer
from textual.widget import Widget

from ftui.core.base import jobs


class JobWatch:
    """`show(state)` after each read; the first state that is not "running" is shown and ends the watch."""

    def __init__(
        self,
        owner: Widget,
        read: Callable[[], jobs.JobState],
        show: Callable[[jobs.JobState], None],
        interval: float = jobs.POLL_S,
    ) -> None:
        self.owner = owner
        self.read = read
        self.show = show
        self._reading = False
        self._timer: Timer | None = owner.set_interval(interval, self._tick)

    @property
    def active(self) -> bool:
        return self._timer is not None

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _tick(self) -> None:
        # One read at a time: a slow disk must not pile reads up behind each other.
        if self._reading or self._timer is None:
            return
        self._reading = True
        self.owner.run_worker(self._read, thread=True, exit_on_error=False, group="job-watch")

    def _read(self) -> None:
        try:
            st = self.read()
        except Exception:
            self._reading = False
            raise
        self.owner.app.call_from_thread(self._deliver, st)

    def _deliver(self, st: jobs.JobState) -> None:
        self._reading = False
        if self._timer is None:
            return
        if st.state != "running":
            self.stop()
        self.show(st)
