"""Dataset format readers, one per layout, in one registry shared by every task.

>>> from imgrec.data.formats import find_format, get_format, list_formats
>>> list_formats("detect")
['coco', 'yolo', 'voc']
>>> get_format("cocoo")  # ConfigError: unknown format 'cocoo'. Did you mean 'coco'? ...

A classification reader returns a :class:`Found` (the candidate images with their labels and
splits, before decoding); :func:`imgrec.data.ingest.ingest` decodes them into a manifest. A
detection reader returns a :class:`~imgrec.data.detection.DetectionDataset`. See
:class:`FormatReader` for the contract a new reader follows.
"""

from __future__ import annotations

from imgrec.data._found import Candidate, Found
from imgrec.data.formats.registry import (
    FormatReader,
    ReadContext,
    describe_formats,
    find_format,
    get_format,
    list_formats,
    register_format,
    unregister_format,
)

__all__ = [
    "Candidate",
    "FormatReader",
    "Found",
    "ReadContext",
    "describe_formats",
    "find_format",
    "get_format",
    "list_formats",
    "register_format",
    "unregister_format",
]
