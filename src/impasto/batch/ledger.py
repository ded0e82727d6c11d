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


def _parse(line: str) -> dict[str, Any] | None:
    """A line of results.jsonl as a row with a key, or None (a line cut short by a crash,
    or not ours)."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) and isinstance(row.get("key"), str) else None


class Ledger:
    """The results of one output folder. Holding it locks the folder (a second batch into
    it is refused) and clears the temporary files a killed run left."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / RESULTS
        self._lock: IO[str] | None = None
        #: The last line of each key, as its JSON text (a few hundred bytes an item, where the
        #: parsed rows would take ten times that).
        self.rows: dict[str, str] = {}
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

    def _read(self) -> dict[str, str]:
        """The last line of each key; a line cut short by a crash is ignored."""
        rows: dict[str, str] = {}
        if not self.path.exists():
            return rows
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                row = _parse(line)
                if row is not None:
                    rows.pop(row["key"], None)
                    rows[row["key"]] = line.rstrip("\n")
        return rows

    def row(self, key: str) -> dict[str, Any] | None:
        line = self.rows.get(key)
        return None if line is None else _parse(line)

    def done(self, key: str) -> dict[str, Any] | None:
        """The row of ``key`` when it finished and its output is still there, unchanged."""
        row = self.row(key)
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
        line = json.dumps(row, sort_keys=True)
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.rows.pop(row["key"], None)
        self.rows[row["key"]] = line

    def compact(self, keys: list[str]) -> None:
        """Rewrite the file: the rows of ``keys`` in that order, then rows of earlier batches
        whose outputs no row of this one took."""
        assert self._fh is not None
        wanted = set(keys)
        ours = [self.rows[k] for k in keys if k in self.rows]
        taken = {(_parse(line) or {}).get("output") for line in ours}
        others = []
        for key, line in self.rows.items():
            row = _parse(line) if key not in wanted else None
            if (row is not None and row.get("status") == "done"
                    and row.get("output") not in taken
                    and (self.folder / str(row.get("output", ""))).exists()):
                others.append(line)
        text = "".join(line + "\n" for line in [*ours, *others])
        self._fh.close()
        write_bytes_atomically(self.path, text.encode("utf-8"))
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
