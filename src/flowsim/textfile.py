"""Reading a user's input file: one regular file, at most 10 MB, UTF-8 text."""

from __future__ import annotations

from pathlib import Path

from flowsim.errors import FlowsimError

#: Larger input files are refused: a scenario or observations file is a few kB.
MAX_FILE_BYTES = 10_000_000


def read_text(path: Path, error: type[FlowsimError], what: str, encoding: str = "utf-8") -> str:
    """The text of `path`, or `error` naming the file and what is wrong.

    `what` completes "is a directory, not ..." (e.g. "a scenario file"); `encoding` is
    ``utf-8`` or ``utf-8-sig`` (a byte-order mark allowed).
    """
    name = str(path)
    try:
        if path.is_dir():
            raise error(f"is a directory, not {what}", file=name)
        if path.exists() and not path.is_file():
            raise error("is not a regular file", file=name)
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise error("file not found", file=name) from None
    except OSError as err:
        raise error(f"cannot read file ({err.strerror})", file=name) from None
    if len(raw) > MAX_FILE_BYTES:
        raise error(f"file is larger than {MAX_FILE_BYTES} bytes", file=name)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise error(
            f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})",
            file=name,
            line=raw.count(b"\n", 0, err.start) + 1,
        ) from None
