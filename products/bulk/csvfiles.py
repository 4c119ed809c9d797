"""Reading CSV files as a stream, with line numbers and an optional progress line."""

import csv
import io
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

PROGRESS_EVERY = 0.5  # seconds between progress lines on a terminal


class FileProblem(Exception):
    """The file as a whole cannot be read (missing, not UTF-8, wrong header)."""


class _CountingReader(io.RawIOBase):
    """Counts the bytes read, so progress can be a share of the file size."""

    def __init__(self, raw):
        self.raw = raw
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = self.raw.readinto(buffer)
        self.bytes_read += count or 0
        return count


@dataclass
class Progress:
    """`label: 42% (420,000 rows)` rewritten in place on a terminal; silent otherwise."""

    label: str
    total_bytes: int
    stream: object = field(default_factory=lambda: sys.stderr)
    _last: float = 0.0

    @property
    def enabled(self) -> bool:
        return hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, bytes_read: int, rows: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < PROGRESS_EVERY):
            return
        self._last = now
        share = 100 * bytes_read / self.total_bytes if self.total_bytes else 100
        self.stream.write(f"\r{self.label}: {share:3.0f}% ({rows:,} rows)")
        self.stream.flush()

    def done(self, rows: int) -> None:
        if self.enabled:
            self.update(self.total_bytes, rows, force=True)
            self.stream.write("\n")


@dataclass
class CsvRow:
    line: int  # where the record starts in the file, for error messages
    cells: dict[str, str]
    problem: str | None = None  # a record that cannot be read as the header says


def read_rows(path: str, allowed: list[str], required: list[str]) -> Iterator[CsvRow]:
    """The records of a UTF-8 CSV file with a header row, one at a time."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by the generator's finally)
    except OSError as exc:
        raise FileProblem(f"{path}: cannot open: {exc.strerror}") from exc
    counter = _CountingReader(raw)
    text = io.TextIOWrapper(io.BufferedReader(counter), encoding="utf-8-sig", newline="")
    progress = Progress(os.path.basename(path), os.fstat(raw.fileno()).st_size)
    rows, line = 0, 1
    try:
        reader = csv.reader(text, strict=True)
        header = _read_header(path, reader, allowed, required)
        line = reader.line_num + 1
        for record in reader:
            if record:
                yield _row(line, header, record)
                rows += 1
            line = reader.line_num + 1
            progress.update(counter.bytes_read, rows)
        progress.done(rows)
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path}:{line}: not UTF-8 ({exc.reason})") from exc
    except csv.Error as exc:
        raise FileProblem(f"{path}:{line}: not valid CSV ({exc})") from exc
    finally:
        text.close()


def _read_header(path: str, reader, allowed: list[str], required: list[str]) -> list[str]:
    header = [name.strip() for name in next(reader, [])]
    unknown = [name for name in header if name not in allowed]
    missing = [name for name in required if name not in header]
    if not header or unknown or missing or len(set(header)) != len(header):
        raise FileProblem(
            f"{path}:1: the header must name the columns {', '.join(allowed)}"
            f" (required: {', '.join(required)}); it has: {', '.join(header) or 'nothing'}"
        )
    return header


def _row(line: int, header: list[str], record: list[str]) -> CsvRow:
    if len(record) != len(header):
        problem = f"{len(record)} values for the header's {len(header)} columns"
        return CsvRow(line, {}, problem)
    return CsvRow(line, dict(zip(header, record, strict=True)))
