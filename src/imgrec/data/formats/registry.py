"""The format-reader registry: one reader per dataset layout, for every task.

A reader (:class:`FormatReader`) names a layout, the tasks it serves, a cheap probe and a read.
Layout detection asks the registry: :func:`find_format` tries the readers of a task, highest
``priority`` first, and returns the first whose probe says yes, so a new layout (segmentation
masks, captions, retrieval ground truth) is one registered class, not an edit to an if-chain::

    @register_format
    class MyLayout(FormatReader[Found]):
        name = "my-layout"
        tasks = ("classify",)
        priority = 60
        description = "my-layout (labels.my beside the images)"

        def detect(self, path: Path) -> bool:
            return (path / "labels.my").is_file()

        def read(self, path: Path, ctx: ReadContext) -> Found:
            ...

The built-in readers (``imgrec.data.formats.folders``, ``.table``, ``.idx``, ``.detection``)
register themselves the first time the registry is asked anything.
"""

from __future__ import annotations

import difflib
import importlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from imgrec.errors import ConfigError

__all__ = [
    "FormatReader",
    "ReadContext",
    "describe_formats",
    "find_format",
    "get_format",
    "list_formats",
    "register_format",
    "unregister_format",
]

ReadT = TypeVar("ReadT", covariant=True)
ReaderT = TypeVar("ReaderT", bound="type[FormatReader[Any]]")

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_BUILTIN_MODULES = (
    "imgrec.data.formats.idx",
    "imgrec.data.formats.folders",
    "imgrec.data.formats.table",
    "imgrec.data.formats.detection",
    "imgrec.data.formats.segmentation",
)
_FORMATS: dict[str, FormatReader[Any]] = {}
_builtins_loaded = False


@dataclass(frozen=True)
class ReadContext:
    """What a reader may need besides the folder it reads.

    Attributes:
        source: What the user gave (a folder, a zip, a file), recorded in what is read.
        work_dir: A folder imgrec owns where a reader may write derived files (an IDX set is
            exported there); never inside the user's data.
    """

    source: Path
    work_dir: Path


class FormatReader(ABC, Generic[ReadT]):
    """One dataset layout. Subclass, set the class attributes, decorate with register_format.

    The contract:

    * ``name``: unique, lower case (``[a-z0-9._-]``); it is the layout recorded in what is read
      (``Manifest.layout``, ``DetectionDataset.layout``) and the name a task lists in
      ``Task.formats``.
    * ``tasks``: the task names whose callers can use what ``read`` returns.
    * ``priority``: readers of a task are probed highest first (equal ones by name); the
      catch-all image folder is 0, so a new classification layout needs a priority above 0.
    * ``description``: one line for error messages, e.g. ``"voc (Annotations/*.xml ...)"``.
    * ``detect(path)``: cheap: looks at names and listings and reads at most a header line;
      never decodes an image and never writes. ``path`` may be a file (a CSV given directly),
      so check ``is_dir()``. It may raise :class:`~imgrec.errors.DatasetError` when the layout
      is recognised but cannot be read unambiguously (two folders for one split).
    * ``read(path, ctx)``: the layout's contents in the form its task's callers consume today:
      a :class:`~imgrec.data.formats.Found` (candidates before decoding) for ``classify``, a
      :class:`~imgrec.data.detection.DetectionDataset` for ``detect``. The user's files are only
      read; anything derived goes under ``ctx.work_dir``.
    """

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]]
    priority: ClassVar[int] = 50
    description: ClassVar[str] = ""

    @abstractmethod
    def detect(self, path: Path) -> bool:
        """True when ``path`` holds this layout (cheap; see the class contract)."""

    @abstractmethod
    def read(self, path: Path, ctx: ReadContext) -> ReadT:
        """Read the dataset at ``path`` (a folder ``detect`` accepted)."""

    def __repr__(self) -> str:
        return f"<format {self.name!r} tasks={self.tasks} priority={self.priority}>"


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True  # first: the modules imported here call register_format
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def register_format(cls: ReaderT) -> ReaderT:
    """Register a reader class (a decorator); it is instantiated once, without arguments.

    Raises:
        ConfigError: the name is taken or malformed, or the reader declares no task.
    """
    if cls.__module__ not in _BUILTIN_MODULES:  # a plug-in: clash with a built-in name now
        _load_builtins()
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"format reader {cls.__qualname__}: name {name!r} must be lower case letters, "
            "digits, '.', '_' or '-'."
        )
    if name in _FORMATS:
        owner = type(_FORMATS[name])
        raise ConfigError(
            f"format name '{name}' is already registered by {owner.__module__}."
            f"{owner.__qualname__}; pick another name."
        )
    tasks = getattr(cls, "tasks", ())
    if not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise ConfigError(f"format reader '{name}' must declare the tasks it serves.")
    _FORMATS[name] = cls()
    return cls


def unregister_format(name: str) -> None:
    """Remove a registered reader (for plug-ins that unload, and tests).

    Raises:
        ConfigError: no reader has that name (the message names the nearest).
    """
    get_format(name)
    del _FORMATS[name]


def _ordered(task: str | None) -> list[FormatReader[Any]]:
    _load_builtins()
    readers = [r for r in _FORMATS.values() if task is None or task in r.tasks]
    return sorted(readers, key=lambda r: (-r.priority, r.name))  # ties: never import order


def list_formats(task: str | None = None) -> list[str]:
    """Names of the registered readers (of ``task`` if given), in the order they are probed."""
    return [r.name for r in _ordered(task)]


def get_format(name: str) -> FormatReader[Any]:
    """The reader registered as ``name``.

    Raises:
        ConfigError: unknown name; the message names the nearest one and lists them all.
    """
    _load_builtins()
    reader = _FORMATS.get(name)
    if reader is None:
        known = sorted(_FORMATS)
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.4)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ConfigError(f"unknown format '{name}'.{hint} Formats: {', '.join(known)}.")
    return reader


def find_format(path: Path, *, task: str | None = None) -> FormatReader[Any] | None:
    """The first reader (of ``task`` if given, highest priority first) whose probe accepts
    ``path``, or None.

    Raises:
        DatasetError: a probe recognised its layout but found it ambiguous.
    """
    path = Path(path)
    return next((r for r in _ordered(task) if r.detect(path)), None)


def describe_formats(task: str | None = None) -> str:
    """The readers of ``task`` for an error message: their descriptions, ``"; "``-joined."""
    return "; ".join(r.description or r.name for r in _ordered(task))
