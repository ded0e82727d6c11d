"""``results.jsonl``: one line per item of a batch (its inputs with hashes, options, output
and its hash, timings, scores when asked, or the error), appended and synced as each item
finishes, so a rerun after a crash knows what is done; rewritten in the batch's order when
the batch ends."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from pathlib import Path
from typing import IO, Any

from impasto.errors import OutputError
from impasto.image.save import write_bytes_atomically

RESULTS = "results.jsonl"
LOCK = ".impasto-batch.lock"
#: The hidden temporary files an interrupted write leaves (image.save's ``.NAME.HEX.part``).
_PART = re.compile(r"^\..+\.[0-9a-f]{8}\.part$")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Ledger:
    """The results of one output folder. Holding it locks the folder (a second batch into
    it is refused) and clears the temporary files a killed run left."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / RESULTS
        self._lock: IO[str] | None = None
        self.rows: dict[str, dict[str, Any]] = {}
        self._fh: IO[str] | None = None

    def __enter__(self) -> Ledger:
        lock = open(self.folder / LOCK, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise OutputError(f"another batch is writing into {self.folder}; wait for it "
                              "or choose another output folder") from None
        self._lock = lock
        for entry in self.folder.iterdir():
            if _PART.match(entry.name) and entry.is_file():
                with contextlib.suppress(OSError):
                    entry.unlink()
        self.rows = self._read()
        self._fh = open(self.path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def _read(self) -> dict[str, dict[str, Any]]:
        """The last line of each key; a line cut short by a crash is ignored."""
        rows: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return rows
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("key"), str):
                rows.pop(row["key"], None)
                rows[row["key"]] = row
        return rows

    def done(self, key: str) -> dict[str, Any] | None:
        """The row of ``key`` when it finished and its output is still there, unchanged."""
        row = self.rows.get(key)
        if row is None or row.get("status") != "done":
            return None
        output = self.folder / str(row.get("output", ""))
        try:
            if file_sha256(output) != row.get("output_sha256"):
                return None
        except OSError:
            return None
        return row

    def append(self, row: dict[str, Any]) -> None:
        """Record one finished or failed item, synced before the next one is reported."""
        assert self._fh is not None
        self._fh.write(json.dumps(row, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.rows.pop(row["key"], None)
        self.rows[row["key"]] = row

    def compact(self, keys: list[str]) -> None:
        """Rewrite the file: the rows of ``keys`` in that order, then rows of earlier batches
        whose outputs no row of this one took."""
        assert self._fh is not None
        ours = [self.rows[k] for k in keys if k in self.rows]
        taken = {r.get("output") for r in ours}
        others = [r for k, r in self.rows.items() if k not in set(keys)
                  and r.get("status") == "done" and r.get("output") not in taken
                  and (self.folder / str(r.get("output", ""))).exists()]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in [*ours, *others])
        self._fh.close()
        write_bytes_atomically(self.path, text.encode("utf-8"))
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
