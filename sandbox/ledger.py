"""An append-only JSON-lines file shared by processes: the sandbox adapters' memory.

The sandbox store and warehouse keep what they received here, so the worker that delivers an
order and the test or demo that checks it see the same record. Appends and reads take an
exclusive file lock, so concurrent writers never interleave lines.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Ledger:
    """A named JSON-lines file under a folder."""

    def __init__(self, folder: str | Path, name: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.path = Path(folder) / f"{safe}.jsonl"

    def append(self, *records: dict[str, Any]) -> None:
        """Append records atomically with respect to other writers."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records)
        with self.path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.write(text)
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def records(self, type_: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield the records in order, optionally only those of one `type`."""
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            try:
                lines = handle.readlines()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        for line in lines:
            if line.strip():
                record = json.loads(line)
                if type_ is None or record.get("type") == type_:
                    yield record
