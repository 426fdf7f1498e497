"""A child process of a test whose output goes to a log file it can read back."""

from __future__ import annotations

import signal
import subprocess


class LoggedProcess:
    """Subclasses set ``proc``, ``log_path`` and ``_log`` (the open log file) when they
    start. ``stop()`` sends SIGTERM (the graceful path under test), then SIGKILL after
    ``stop_timeout`` seconds, and returns the exit code."""

    stop_timeout = 20.0
    proc: subprocess.Popen | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code, self.proc = self.proc.returncode, None
        return code
