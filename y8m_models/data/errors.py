"""The one exception type for damaged or unusable YouTube-8M data."""

from __future__ import annotations

from pathlib import Path


class Y8MDataError(ValueError):
    """A file, record or field that cannot be read as YouTube-8M data.

    The message always names the file; where the damage sits inside a file it also names the record
    index (0-based, in file order) and the byte offset of that record's header. For gzip files the
    offset counts bytes of the uncompressed stream.
    """

    def __init__(self, path: str | Path, reason: str, record: int | None = None, offset: int | None = None):
        self.path = str(path)
        self.reason = reason
        self.record = record
        self.offset = offset
        where = self.path
        if record is not None:
            where += f": record {record}"
            if offset is not None:
                where += f" at byte {offset}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (type(self), (self.path, self.reason, self.record, self.offset))
