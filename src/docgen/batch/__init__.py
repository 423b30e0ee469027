"""Batch runs: streaming input, parallel workers, a manifest, safe to run again.

Example::

    runner = BatchRunner(Settings.load(), workers=2)
    summary = runner.run(read_records(Path("today.csv")), manifest=Path("out/manifest.jsonl"))
"""

from docgen.batch.inputs import InputFormat, Record, count_records, read_records
from docgen.batch.runner import BatchRunner, BatchSummary, ManifestRow, Progress

__all__ = [
    "BatchRunner",
    "BatchSummary",
    "InputFormat",
    "ManifestRow",
    "Progress",
    "Record",
    "count_records",
    "read_records",
]
