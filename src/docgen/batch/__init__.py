"""Batch runs: streaming input, parallel workers, a manifest, safe to run again.

Example::

    runner = BatchRunner(Settings.load(), workers=2)
    summary = runner.run(read_records(Path("today.csv")), manifest=Path("out/manifest.jsonl"))
"""

from docgen.batch.inputs import (
    MAX_CSV_ROW,
    InputFormat,
    InputInvalid,
    Record,
    count_records,
    read_records,
)
from docgen.batch.runner import (
    BatchInterrupted,
    BatchRunner,
    BatchSummary,
    ManifestError,
    ManifestRow,
    Progress,
)

__all__ = [
    "MAX_CSV_ROW",
    "BatchInterrupted",
    "BatchRunner",
    "BatchSummary",
    "InputFormat",
    "InputInvalid",
    "ManifestError",
    "ManifestRow",
    "Progress",
    "Record",
    "count_records",
    "read_records",
]
