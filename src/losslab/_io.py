"""Tabular input for ``losslab eval``: delimited text and Parquet read through pyarrow.

Reads CSV, TSV and any other delimited text (any encoding Python knows; a UTF-8 or UTF-16
byte-order mark is recognised), compressed with gzip, bz2, zstd or xz (found from the file's
first bytes, not its name), and Parquet, from files, directories, glob patterns or standard
input (``-``). Columns come back as float64 NumPy arrays in large batches, so that the fused
kernels pay. Every problem becomes one :class:`InputError` whose message names the file and
the line (text; the header is line 1) or row (Parquet; the first row is row 1).

The fast path is pyarrow's multi-threaded CSV reader (whole files up to
:data:`WHOLE_FILE_BYTES`, streamed in blocks beyond) and its Parquet reader. pyarrow's own errors
do not say where the problem is, so when it fails the file is read again with the standard
library (:func:`_diagnose_text`), which finds the first offending line; that second pass runs
only on the error path.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import difflib
import functools
import glob
import io
import lzma
import math
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = [
    "WHOLE_FILE_BYTES",
    "Batch",
    "InputError",
    "Source",
    "TextOptions",
    "expand_inputs",
    "float64_numpy",
    "int_numpy",
    "read_batches",
]

#: Text inputs up to this size on disk (a quarter of it when compressed) are parsed in one
#: multi-threaded pass; larger ones are streamed in blocks of ``_STREAM_BLOCK`` bytes.
WHOLE_FILE_BYTES = 256 * 2**20
_STREAM_BLOCK = 32 * 2**20

#: Compression formats by their magic bytes: (name, magic, pyarrow codec or None for Python).
_MAGIC = (
    ("gzip", b"\x1f\x8b", "gzip"),
    ("bz2", b"BZh", "bz2"),
    ("zstd", b"\x28\xb5\x2f\xfd", "zstd"),
    ("xz", b"\xfd7zXZ\x00", None),
)
_PARQUET_MAGIC = b"PAR1"
_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_COMPRESSED_SUFFIXES = {".gz", ".gzip", ".bz2", ".zst", ".zstd", ".xz"}
_TAB_SUFFIXES = {".tsv", ".tab"}
#: Delimiters tried, in this order, when ``--delimiter`` is not given.
_SNIFF_DELIMITERS = (",", "\t", ";", "|")
#: pyarrow's default null spellings: such a cell is read as missing (NaN).
_NULLS = frozenset(pa_csv.ConvertOptions().null_values)
_GLOB_CHARS = frozenset("*?[")


class InputError(Exception):
    """A problem with an input file, as one line naming the file and the line or row."""


@dataclass(frozen=True)
class TextOptions:
    """How to read delimited text: ``delimiter`` (None: from the suffix or the header line)
    and ``encoding`` (None: UTF-8, or UTF-16 when the data start with its byte-order mark)."""

    delimiter: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class Source:
    """One input: a file, or the bytes of standard input.

    ``compression`` is ``gzip``, ``bz2``, ``zstd``, ``xz`` or None; ``format`` is ``text`` or
    ``parquet``.
    """

    name: str
    path: Path | None
    data: bytes | None
    compression: str | None
    format: str

    @property
    def unit(self) -> str:
        """``line`` for text (the header is line 1), ``row`` for Parquet (first row = 1)."""
        return "row" if self.format == "parquet" else "line"

    @property
    def nbytes(self) -> int:
        """Size on disk (or on standard input)."""
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    def open(self) -> Any:
        """A fresh pyarrow input stream of the decompressed bytes."""
        raw: Any = (
            pa.BufferReader(self.data) if self.data is not None else pa.OSFile(str(self.path))
        )
        if self.compression is None:
            return raw
        codec = next(c for name, _, c in _MAGIC if name == self.compression)
        if codec is not None:
            return pa.CompressedInputStream(raw, codec)
        raw.close()
        # closed with the pyarrow stream that wraps it
        fh = lzma.open(io.BytesIO(self.data) if self.data is not None else str(self.path))  # noqa: SIM115
        return pa.PythonFile(fh, mode="r")

    def raw_bytes(self) -> bytes:
        """The bytes on disk (or on standard input), still compressed."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def read_all(self) -> bytes:
        """Every decompressed byte (the error path: the whole input in memory).

        Raises
        ------
        InputError
            Truncated or corrupt compressed data, naming the line where the good data end.
        """
        data, error = _decompress(self.raw_bytes(), self.compression)
        if error is not None:
            line = data.count(b"\n") + 1
            raise InputError(
                f"{self.name}: line {line}: the {self.compression} data end "
                f"early or are corrupt (truncated file?): {error}"
            )
        return data


def _decompress(raw: bytes, compression: str | None) -> tuple[bytes, str | None]:
    """(as many decompressed bytes as the data give, the problem or None), in steps of 64 KiB
    of input so that the good part before a corrupt or missing end is kept. Concatenated
    streams (``cat a.gz b.gz``) are read one after the other."""
    if compression is None:
        return raw, None
    if compression == "zstd":  # no zstd in the standard library: pyarrow, block by block
        out = bytearray()
        try:
            with pa.CompressedInputStream(pa.BufferReader(raw), "zstd") as fh:
                while chunk := fh.read(1 << 16):
                    out += chunk
        except (OSError, pa.ArrowException) as exc:
            return bytes(out), _one_line(exc)
        return bytes(out), None
    new: Callable[[], Any] = {
        "gzip": lambda: zlib.decompressobj(wbits=31),
        "bz2": bz2.BZ2Decompressor,
        "xz": lzma.LZMADecompressor,
    }[compression]
    out = bytearray()
    rest = raw
    while rest:
        d = new()
        step = 1 << 16
        try:
            pos = 0
            while pos < len(rest) and not d.eof:
                out += d.decompress(rest[pos : pos + step])
                pos += step
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            return bytes(out), _one_line(exc)
        if not d.eof:
            return bytes(out), "the compressed stream ends before its end marker"
        rest = d.unused_data + rest[pos:]
        if compression == "gzip":
            rest = rest.lstrip(b"\x00")  # zero padding after the last member
    return bytes(out), None


@dataclass
class Batch:
    """Consecutive data rows of one source: ``columns`` (float64 arrays by name), ``keys``
    (the group column as a pyarrow string array, or None), ``first_row`` (0-based index of
    the first data row in the source) and ``locate``, which turns a 0-based data row of the
    source into ``"NAME: line L"`` (text: the physical line, found by reading the file again,
    so for error messages only) or ``"NAME: row R"`` (Parquet)."""

    columns: dict[str, np.ndarray[Any, np.dtype[np.float64]]]
    keys: Any
    first_row: int
    locate: Callable[[int], str]

    @property
    def size(self) -> int:
        return len(next(iter(self.columns.values())))

    def where(self, i: int) -> str:
        """Where row ``i`` of this batch is: ``"NAME: line L"`` or ``"NAME: row R"``."""
        return self.locate(self.first_row + i)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def expand_inputs(args: Sequence[str], stdin: BinaryIO | None = None) -> list[Source]:
    """Sources for the command-line arguments, in order.

    ``-`` reads standard input (once), as a named pipe (``/dev/stdin``, ``<(zcat ...)``) is
    read: into memory; a pattern with ``*``, ``?`` or ``[`` (``**`` recursive)
    expands to its matching files in sorted order; a directory to the files under it, sorted.

    Raises
    ------
    InputError
        A file that does not exist, a pattern or directory without files, ``-`` given twice.
    """
    sources: list[Source] = []
    seen_stdin = False
    for arg in args:
        if arg == "-":
            if seen_stdin:
                raise InputError("standard input (-) can be read only once")
            seen_stdin = True
            data = (stdin if stdin is not None else _stdin()).read()
            sources.append(_source("<stdin>", None, data))
            continue
        path = Path(arg)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path))
            if not files:
                raise InputError(f"no files in directory {arg}")
            sources.extend(_source(str(p), p, None) for p in files)
        elif path.is_file():
            sources.append(_source(arg, path, None))
        elif path.exists():  # a pipe: /dev/stdin, a shell's <(zcat ...)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read {arg}: {exc.strerror or exc}") from None
            sources.append(_source(arg, None, data))
        elif _GLOB_CHARS & set(arg):
            matches = sorted(p for p in glob.glob(arg, recursive=True) if os.path.isfile(p))
            if not matches:
                raise InputError(f"no file matches {arg}")
            sources.extend(_source(m, Path(m), None) for m in matches)
        else:
            raise InputError(f"file not found: {arg}")
    return sources


def _stdin() -> BinaryIO:
    import sys

    return sys.stdin.buffer


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


def _source(name: str, path: Path | None, data: bytes | None) -> Source:
    if data is not None:
        head = data[:8]
    else:
        assert path is not None
        try:
            with open(path, "rb") as fh:
                head = fh.read(8)
        except OSError as exc:
            raise InputError(f"cannot open {name}: {exc.strerror or exc}") from None
    compression = next((c for c, magic, _ in _MAGIC if head.startswith(magic)), None)
    suffixes = [s.lower() for s in Path(name).suffixes]
    if compression is not None and suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
        suffixes = suffixes[:-1]
    if compression is None:
        parquet = head.startswith(_PARQUET_MAGIC)
    else:
        parquet = bool(suffixes) and suffixes[-1] in _PARQUET_SUFFIXES
    return Source(name, path, data, compression, "parquet" if parquet else "text")


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def read_batches(
    src: Source,
    numeric: Sequence[str],
    key: str | None,
    options: TextOptions,
    chunk_size: int,
) -> Iterator[Batch]:
    """The ``numeric`` columns of ``src`` as float64 (a missing cell is NaN) and the ``key``
    column as strings, in batches of at most ``chunk_size`` rows.

    Raises
    ------
    InputError
        Empty input, missing column, a cell that is not a number, a row with the wrong number
        of fields, text not in the encoding, corrupt compressed data or Parquet.
    """
    if src.format == "parquet":
        return _parquet_batches(src, numeric, key, chunk_size)
    return _text_batches(src, numeric, key, options, chunk_size)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _missing(src: Source, wanted: Sequence[str], names: Sequence[str], where: str) -> None:
    missing = [c for c in wanted if c not in names]
    if not missing:
        return
    hints = []
    for c in missing:
        close = difflib.get_close_matches(c, list(names), n=1)
        if close:
            hints.append(f"{close[0]!r} for {c!r}")
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    shown = list(names) if len(names) <= 20 else [*names[:20], "..."]
    raise InputError(f"{src.name}: {where}column(s) {missing} not found{hint}; columns: {shown}")


# --- text ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _TextLayout:
    encoding: str  # as pyarrow and Python spell it
    delimiter: str
    header: list[str]
    header_line: int  # 1-based: empty lines before the header are skipped


def _decoder_name(encoding: str) -> str:
    # The UTF-8 byte-order mark is skipped by pyarrow; Python needs utf-8-sig for it.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _layout(src: Source, options: TextOptions, wanted: Sequence[str]) -> _TextLayout:
    """Encoding, delimiter and header of a text source, from its first bytes."""
    head = _head(src)
    if not head.strip():
        raise InputError(f"{src.name}: line 1: empty file (no header row)")
    if options.encoding is not None:
        encoding = options.encoding
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    decoder = codecs.getincrementaldecoder(_decoder_name(encoding))(errors="replace")
    try:
        lines = decoder.decode(head, final=False).splitlines()
    except UnicodeError as exc:  # a decoder that refuses outright (UTF-16/32 without a BOM)
        raise InputError(
            f"{src.name}: line 1: cannot read the text as {encoding} ({exc}); pass the file's "
            "--encoding (utf-16-le, utf-16-be, ...)"
        ) from None
    found = next((i for i, text in enumerate(lines) if text.strip("\ufeff")), None)
    if found is None:
        raise InputError(f"{src.name}: line 1: empty file (no header row)")
    header_line = found + 1
    first = lines[found]
    if "\ufffd" in first or "\x00" in first:
        what = "contains NUL bytes" if "\x00" in first else f"is not valid {encoding} text"
        raise InputError(
            f"{src.name}: line {header_line}: the header {what}: a binary file, or text in "
            "another encoding (pass --encoding)"
        )
    delimiter = options.delimiter or _sniff_delimiter(src, first, wanted)
    header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter), [])]
    return _TextLayout(encoding, delimiter, header, header_line)


def _head(src: Source) -> bytes:
    """The first bytes of the decompressed input, through the end of the first line (at most
    4 MiB). A read error after the first line is left to the full read, which names its line."""
    head = b""
    try:
        with src.open() as fh:
            while b"\n" not in head.lstrip(b"\r\n") and len(head) < (1 << 22):
                more = bytes(fh.read(1 << 12))
                if not more:
                    break
                head += more
    except (OSError, EOFError, lzma.LZMAError, pa.ArrowException) as exc:
        if b"\n" not in head:
            raise InputError(
                f"{src.name}: line 1: the {src.compression or ''} data end early or are corrupt: "
                f"{_one_line(exc)}"
            ) from None
    return head


def _lines_before(data: bytes, end: int, encoding: str) -> int:
    return data[:end].decode(_decoder_name(encoding), errors="replace").count("\n") + 1


def _sniff_delimiter(src: Source, first: str, wanted: Sequence[str]) -> str:
    """``.tsv``/``.tab`` -> tab; otherwise the delimiter that splits the header into the wanted
    columns, or failing that the most frequent of , tab ; |."""
    suffixes = [s.lower() for s in Path(src.name).suffixes if s.lower() not in _COMPRESSED_SUFFIXES]
    if suffixes and suffixes[-1] in _TAB_SUFFIXES:
        return "\t"
    fits = []
    for d in _SNIFF_DELIMITERS:
        names = {h.strip() for h in next(csv.reader([first], delimiter=d), [])}
        if all(w in names for w in wanted):
            fits.append(d)
    if len(fits) == 1:
        return fits[0]
    counts = [(first.count(d), -i) for i, d in enumerate(_SNIFF_DELIMITERS)]
    best = max(counts)
    return _SNIFF_DELIMITERS[-best[1]] if best[0] > 0 else ","


def _wanted(numeric: Sequence[str], key: str | None) -> list[str]:
    """The columns to read, each once (the group column may also be a numeric one)."""
    return list(dict.fromkeys([*numeric, *([key] if key is not None else [])]))


def _text_batches(
    src: Source, numeric: Sequence[str], key: str | None, options: TextOptions, chunk_size: int
) -> Iterator[Batch]:
    wanted = _wanted(numeric, key)
    layout = _layout(src, options, wanted)
    _missing(src, wanted, layout.header, f"header (line {layout.header_line}): ")
    whole = src.nbytes <= (WHOLE_FILE_BYTES // 4 if src.compression else WHOLE_FILE_BYTES)
    read_options = pa_csv.ReadOptions(
        encoding=layout.encoding,
        column_names=layout.header,
        skip_rows=layout.header_line,  # pyarrow counts the empty lines before the header
        block_size=None if whole else _STREAM_BLOCK,
    )
    parse_options = pa_csv.ParseOptions(delimiter=layout.delimiter)
    types = {c: pa.float64() for c in numeric}
    if key is not None and key not in types:
        types[key] = pa.string()
    convert_options = pa_csv.ConvertOptions(include_columns=wanted, column_types=types)
    locate = _TextLocator(src, layout)
    row = 0
    try:
        stream = src.open()
        with stream:
            if whole:
                table = pa_csv.read_csv(
                    stream,
                    read_options=read_options,
                    parse_options=parse_options,
                    convert_options=convert_options,
                )
                batches: Any = table.combine_chunks().to_batches(max_chunksize=chunk_size)
            else:
                batches = pa_csv.open_csv(
                    stream,
                    read_options=read_options,
                    parse_options=parse_options,
                    convert_options=convert_options,
                )
            for record_batch in batches:
                for start in range(0, record_batch.num_rows, chunk_size):
                    part = record_batch.slice(start, chunk_size)
                    yield _batch(part, numeric, key, row, locate)
                    row += part.num_rows
    except (OSError, EOFError, UnicodeError, lzma.LZMAError, pa.ArrowException) as exc:
        raise _diagnose_text(src, layout, numeric, wanted, exc, row) from None


def _batch(
    part: Any,
    numeric: Sequence[str],
    key: str | None,
    first_row: int,
    locate: Callable[[int], str],
) -> Batch:
    columns = {c: float64_numpy(part.column(c)) for c in numeric}
    keys = None
    if key is not None:  # text; a numeric column used as the key: its numbers as text
        keys = part.column(key)
        keys = keys if pa.types.is_string(keys.type) else pc.cast(keys, pa.string())
    return Batch(columns, keys, first_row, locate)


def float64_numpy(arr: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A numeric pyarrow array as a float64 NumPy array, missing values as NaN.

    Read from the Arrow buffers (a zero-copy view when there are no missing values) rather than
    with ``Array.to_numpy``, which imports pandas (half a second on a cold start).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.float64():
        arr = pc.cast(arr, pa.float64())
    validity, data = arr.buffers()[:2]
    n, offset = len(arr), arr.offset
    values: np.ndarray[Any, np.dtype[np.float64]] = np.frombuffer(
        data, dtype=np.float64, count=n, offset=offset * 8
    )
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        values = np.where(bits[offset : offset + n].astype(bool), values, np.nan)
    return values


def int_numpy(arr: Any, null: int) -> np.ndarray[Any, np.dtype[np.intp]]:
    """An integer pyarrow array as an intp NumPy array, missing values as ``null`` (see
    :func:`float64_numpy`: no pandas import)."""
    if arr.type != pa.int64():
        arr = pc.cast(arr, pa.int64())
    validity, data = arr.buffers()[:2]
    n, offset = len(arr), arr.offset
    values = np.frombuffer(data, dtype=np.int64, count=n, offset=offset * 8).astype(np.intp)
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        values[~bits[offset : offset + n].astype(bool)] = null
    return values


def _is_number(cell: str) -> bool:
    """Whether pyarrow reads ``cell`` as a float64 or a missing value."""
    if cell in _NULLS:
        return True
    if "_" in cell:  # Python reads 1_000, pyarrow does not
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _records(src: Source, layout: _TextLayout) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every data record, read with the standard library; empty
    lines are skipped as pyarrow skips them. Undecodable bytes become lone surrogates."""
    data = src.read_all()
    try:
        text = data.decode(_decoder_name(layout.encoding), errors="surrogateescape")
    except UnicodeDecodeError as exc:
        line = _lines_before(data, exc.start, layout.encoding)
        raise InputError(
            f"{src.name}: line {line}: not valid {layout.encoding} text ({exc.reason}); "
            "pass --encoding"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    try:
        for fields in reader:  # the header, after any empty lines
            if fields:
                break
        line = reader.line_num
        for fields in reader:
            if fields:
                yield line + 1, fields
            line = reader.line_num
    except csv.Error as exc:
        raise InputError(f"{src.name}: line {reader.line_num}: {exc}") from None


def _raw_cell(cell: str) -> bytes:
    """A cell decoded with ``surrogateescape`` as UTF-8 bytes, its undecodable bytes restored
    (exactly the file's bytes for UTF-8 input)."""
    return cell.encode("utf-8", "surrogateescape")


def _bad_text(cell: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in cell)


def _diagnose_text(
    src: Source,
    layout: _TextLayout,
    numeric: Sequence[str],
    wanted: Sequence[str],
    exc: BaseException,
    row: int,
) -> InputError:
    """Find the first offending line after pyarrow failed with ``exc``."""
    if isinstance(exc, InputError):
        return exc
    try:
        index = {name: i for i, name in enumerate(layout.header)}
        width = len(layout.header)
        for line, fields in _records(src, layout):
            if len(fields) != width:
                return InputError(
                    f"{src.name}: line {line}: {len(fields)} fields, the header has {width}"
                )
            for c in wanted:
                cell = fields[index[c]]
                if _bad_text(cell):
                    return InputError(
                        f"{src.name}: line {line}: column {c!r} is not valid {layout.encoding} "
                        f"text ({_raw_cell(cell)!r}); pass --encoding"
                    )
                if c in numeric and not _is_number(cell.strip()):
                    return InputError(
                        f"{src.name}: line {line}: cannot parse {cell!r} in column {c!r} as a "
                        "number"
                    )
    except InputError as found:
        return found
    return InputError(f"{src.name}: after data row {row}: {_one_line(exc)}")


def _text_line_of_row(src: Source, layout: _TextLayout, row: int) -> int:
    for i, (line, _) in enumerate(_records(src, layout)):
        if i == row:
            return line
    return row + 2  # pragma: no cover - the row was read, so the records reach it


class _TextLocator:
    """``"NAME: line L"`` for a 0-based data row of a text source, remembered once found
    (each new row reads the file again: for error messages and notes only)."""

    def __init__(self, src: Source, layout: _TextLayout) -> None:
        self.src, self.layout = src, layout
        self.found: dict[int, str] = {}

    def __call__(self, row: int) -> str:
        if row not in self.found:
            try:
                line = _text_line_of_row(self.src, self.layout, row)
                self.found[row] = f"{self.src.name}: line {line}"
            except InputError:
                self.found[row] = f"{self.src.name}: data row {row + 1}"
        return self.found[row]


def _parquet_where(src: Source, row: int) -> str:
    return f"{src.name}: row {row + 1}"


# --- parquet ---------------------------------------------------------------------------------
def _parquet_batches(
    src: Source, numeric: Sequence[str], key: str | None, chunk_size: int
) -> Iterator[Batch]:
    wanted = _wanted(numeric, key)
    try:
        if src.compression is not None:
            pf = pq.ParquetFile(pa.BufferReader(src.read_all()))
        elif src.data is not None:
            pf = pq.ParquetFile(pa.BufferReader(src.data))
        else:
            pf = pq.ParquetFile(str(src.path))
        names = pf.schema_arrow.names
    except InputError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{src.name}: not a readable Parquet file: {_one_line(exc)}") from None
    _missing(src, wanted, names, "")
    row = 0
    batches = pf.iter_batches(batch_size=chunk_size, columns=wanted)
    while True:
        try:
            part = next(batches, None)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(
                f"{src.name}: row {row + 1}: cannot read the Parquet data: {_one_line(exc)}"
            ) from None
        if part is None:
            return
        columns = {c: _parquet_numeric(src, part.column(c), c, row) for c in numeric}
        keys = None
        if key is not None:
            try:
                keys = pc.cast(part.column(key), pa.string())
            except (pa.ArrowException, NotImplementedError):
                raise InputError(
                    f"{src.name}: column {key!r} of type {part.column(key).type} cannot be "
                    "used as a group key"
                ) from None
        yield Batch(columns, keys, row, functools.partial(_parquet_where, src))
        row += part.num_rows


def _parquet_numeric(
    src: Source, col: Any, name: str, row: int
) -> np.ndarray[Any, np.dtype[np.float64]]:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.dictionary_decode()
        t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        return float64_numpy(col)
    if pa.types.is_decimal(t):
        return float64_numpy(col)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = col.to_pylist()
        for i, v in enumerate(values):
            if v is not None and not _is_number(v.strip()):
                raise InputError(
                    f"{src.name}: row {row + i + 1}: cannot parse {v!r} in column {name!r} as a "
                    "number"
                )
        return np.array(
            [math.nan if v is None or v.strip() in _NULLS else float(v) for v in values],
            dtype=np.float64,
        )
    raise InputError(f"{src.name}: column {name!r} has type {t}, not numbers")
