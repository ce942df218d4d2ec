"""Dataset file formats: OpenAI, TRL and LLaMA-Factory layouts in and out of one normalised row.

A normalised row is either an SFT example `{"id", "messages": [...]}` or a preference pair
`{"id", "prompt": [...], "chosen": [...], "rejected": [...]}` (TRL's conversational forms, the same
rows a build writes). `line` says where a row came from. Plain `json` does the JSON/JSONL work:
the `datasets` library would cost seconds of import for nothing here. Parquet (a `.parquet` path)
goes through pyarrow, imported only when such a file is read or written.

`names` holds the formats, `records` a file's raw records, `reading` and `writing` the two
directions; the names below are what the rest of ftui uses.
"""

from ftui.core.build.formats.names import (
    FORMATS,
    LLAMA_FACTORY,
    PREFERENCE,
    SFT,
    FormatError,
    Problem,
    ReadResult,
    check_format_name,
    kind_of,
)
from ftui.core.build.formats.reading import detect_format, normalise, read
from ftui.core.build.formats.records import read_records
from ftui.core.build.formats.writing import dataset_info_entry, to_format, write

__all__ = [
    "FORMATS",
    "LLAMA_FACTORY",
    "PREFERENCE",
    "SFT",
    "FormatError",
    "Problem",
    "ReadResult",
    "check_format_name",
    "dataset_info_entry",
    "detect_format",
    "kind_of",
    "normalise",
    "read",
    "read_records",
    "to_format",
    "write",
]
