"""Voice comments on disk: ``<data>/recordings/<YYYY-MM-DD>/<call>-<n>.wav``.

Kept for ``retention_days`` (the evaluation references the file by its path
relative to the data dir); older day directories are removed whole.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

log = logging.getLogger("hcp.ivr.recordings")


def purge_old_recordings(root: str | Path, retention_days: int, today: date | None = None
                         ) -> int:
    """Delete day directories older than the retention; returns how many."""
    root = Path(root)
    if not root.is_dir():
        return 0
    cutoff = (today or date.today()) - timedelta(days=retention_days)
    removed = 0
    for day_dir in root.iterdir():
        try:
            day = date.fromisoformat(day_dir.name)
        except ValueError:
            continue
        if day_dir.is_dir() and day < cutoff:
            shutil.rmtree(day_dir, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed %d day(s) of recordings older than %d days", removed, retention_days)
    return removed
