"""Weights: local files (safetensors or weights-only state dicts) and library caches.

Nothing a user supplies is unpickled: ``.pt/.pth/.bin/.ckpt`` files go through
``torch.load(weights_only=True)`` and anything needing more is refused with a way to convert it.
Library weights (torchvision, timm) come from their own caches; offline, a missing file raises at
once with the exact path where the library looks for it.
"""

from __future__ import annotations

import copy
import json
import pickle
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from imgrec._files import atomic_path
from imgrec.errors import ModelError
from imgrec.models.base import ImageClassifier

__all__ = [
    "LoadReport",
    "adapt_input_channels",
    "check_timm_cached",
    "check_torchvision_cached",
    "check_weights_file",
    "load_timm",
    "load_torchvision",
    "load_weights",
    "published_head_report",
    "save_weights",
    "torchvision_weights",
    "zero_new_head",
]

_TORCH_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt"}
_WRAPPER_PREFIXES = ("module.", "model.")  # DataParallel/DDP, Lightning modules, our adapters
_DOWNLOAD_TIMEOUT_S = 15.0  # per blocking socket call, not for the whole download


@dataclass
class LoadReport:
    """Where a model's starting weights came from, and which head tensors did not come with them.

    Made by :func:`load_weights` (``--weights FILE``) and by ``create_model`` for published
    weights (``--pretrained``); ``create_model`` keeps it as the model's ``load_report``.

    Attributes:
        source: the file read, or the published weights (``"timm:resnet10t ..."``).
        loaded: number of tensors copied into the model.
        skipped_head: head tensors that start afresh, because their shape differs (another
            number of classes: ``"key: file (1000, 512) vs model (10, 512)"``, or ``published``
            for library weights) or because the file has none (``"key: not in file"``).
        zeroed: those of them belonging to the layer that outputs the logits, set to zero so
            that every class starts equally likely (a first loss of ln K, not a random head's
            several times that); a new hidden head layer keeps its fresh initialisation.
    """

    source: Path | str
    loaded: int
    skipped_head: list[str] = field(default_factory=list)
    zeroed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"loaded {self.loaded} tensors from {self.source}"
        if self.skipped_head:
            text += f"; new classifier head for {', '.join(self.skipped_head)}"
        if self.zeroed:
            text += f" ({', '.join(self.zeroed)} set to zero)"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``source`` (a string), ``loaded``, ``skipped_head``, ``zeroed``."""
        return {
            "source": str(self.source),
            "loaded": self.loaded,
            "skipped_head": list(self.skipped_head),
            "zeroed": list(self.zeroed),
        }


# ------------------------------------------------------------------------------ local files


def _refused(source: Path, exc: Exception) -> ModelError:
    return ModelError(
        f"{source}: refused. The file holds pickled Python objects (for example a whole model "
        "saved with torch.save(model)), and loading those can run arbitrary code; imgrec loads "
        "tensors only. If you trust the file, convert it once to safetensors:\n"
        '  python -c "import torch; from safetensors.torch import save_file; '
        f"m = torch.load('{source}', weights_only=False); "
        "sd = m.state_dict() if hasattr(m, 'state_dict') else m; "
        "save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')\"\n"
        f"and pass --weights model.safetensors. ({type(exc).__name__}: {str(exc)[:200]})"
    )


def check_weights_file(source: str | Path) -> Path:
    """``source`` checked as a weights file :func:`load_weights` can open, without loading it:
    it exists, is a readable file, has a known suffix and, for safetensors, a whole header.

    Raises:
        ModelError: naming the file, what is wrong with it and what to give instead.
    """
    path = Path(source).expanduser()
    kinds = f".safetensors or a {'/'.join(sorted(_TORCH_SUFFIXES))} state dict"
    if not path.is_file():
        what = "is a folder, not a weights file" if path.is_dir() else "weights file not found"
        raise ModelError(f"{path}: {what}. Give the path of a {kinds}, or leave out --weights.")
    suffix = path.suffix.lower()
    if suffix != ".safetensors" and suffix not in _TORCH_SUFFIXES:
        raise ModelError(
            f"{path}: unsupported weights file type '{suffix}'; use .safetensors "
            f"or a state dict saved as {', '.join(sorted(_TORCH_SUFFIXES))}."
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(9)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the weights file ({exc.strerror or exc}).") from exc
    size = path.stat().st_size
    if suffix == ".safetensors":  # 8 bytes little-endian header length, then a JSON header
        length = int.from_bytes(head[:8], "little") if len(head) == 9 else 0
        if not 0 < length <= size - 8 or head[8:9] != b"{":
            raise ModelError(
                f"{path}: not a safetensors file (no valid header in its first bytes; cut short "
                "or another format?). Save the weights again, or give another file."
            )
    elif size == 0:
        raise ModelError(f"{path}: the weights file is empty. Save the weights again.")
    return path


def _read(source: Path) -> Any:
    if not source.is_file():
        raise ModelError(f"{source}: weights file not found.")
    suffix = source.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(source), device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError (not exported)
            raise ModelError(f"{source}: not a readable safetensors file ({exc}).") from exc
    if suffix in _TORCH_SUFFIXES:
        try:
            return torch.load(source, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise _refused(source, exc) from exc
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise ModelError(f"{source}: not a readable PyTorch state dict ({exc}).") from exc
    raise ModelError(
        f"{source}: unsupported weights file type '{suffix}'; use .safetensors "
        f"or a state dict saved as {', '.join(sorted(_TORCH_SUFFIXES))}."
    )


def _state_dict(obj: Any, source: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, looking inside ``{'state_dict': ...}`` / ``{'model': ...}``."""
    while isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next(
            (obj[k] for k in ("state_dict", "model") if isinstance(obj.get(k), Mapping)), None
        )
        if inner is None:
            odd = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)][:5]
            raise ModelError(
                f"{source}: not a state dict: entries {odd} are not tensors, and there is no "
                "'state_dict' or 'model' entry holding one."
            )
        obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise ModelError(f"{source}: holds {type(obj).__name__}, not a non-empty state dict.")
    return dict(obj)


def _strip(key: str) -> str:
    while key.startswith(_WRAPPER_PREFIXES):
        key = key.partition(".")[2]
    return key


def _align(state: dict[str, torch.Tensor], target: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename checkpoint keys to the model's, ignoring 'module.'/'model.' wrapper prefixes."""
    by_core: dict[str, list[str]] = {}
    for key in target:
        by_core.setdefault(_strip(key), []).append(key)
    out = {}
    for key, value in state.items():
        if key not in target and len(by_core.get(_strip(key), [])) == 1:
            key = by_core[_strip(key)][0]
        out[key] = value
    return out


def _head_keys(model: nn.Module) -> set[str]:
    if not isinstance(model, ImageClassifier):
        return set()
    head = {
        id(t) for t in [*model.get_classifier().parameters(), *model.get_classifier().buffers()]
    }
    return {k for k, t in model.state_dict(keep_vars=True).items() if id(t) in head}


def _logits_keys(model: nn.Module) -> set[str]:
    """The state-dict keys of the classifier's last Linear/Conv2d: the layer giving the logits."""
    if not isinstance(model, ImageClassifier):
        return set()
    layers = [m for m in model.get_classifier().modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    if not layers:
        return set()
    own = {id(t) for t in layers[-1].parameters(recurse=False)}
    return {k for k, t in model.state_dict(keep_vars=True).items() if id(t) in own}


def zero_new_head(model: nn.Module, fresh: Iterable[str]) -> list[str]:
    """Zero the tensors among ``fresh`` (state-dict keys) that belong to the logits layer.

    The standard start of fine-tuning: with a zero last layer every class gets the same logit,
    so the first loss is ln K and the gradient reaches the head only through the (pretrained)
    features, instead of a random head's large, confidently wrong logits. Anything else in
    ``fresh`` (a new hidden layer) is left as it is. Returns the zeroed keys, sorted.
    """
    keys = sorted(_logits_keys(model) & set(fresh))
    state = model.state_dict(keep_vars=True)
    with torch.no_grad():
        for key in keys:
            state[key].zero_()
    return keys


def published_head_report(
    model: ImageClassifier, *, source: str, published: int | None
) -> LoadReport:
    """The report of published weights (``--pretrained``) for ``model``, zeroing its new head.

    Args:
        model: built from the published weights, its classifier already made for its own
            number of classes (``reset_classifier``, or timm dropping the published head).
        source: what the weights are, for people (the library, its weights name, the file).
        published: the number of classes the weights were trained for (None: unknown, then
            the head is taken to be the published one).
    """
    state = model.state_dict()
    if published is None or published == model.num_classes:
        return LoadReport(source=source, loaded=len(state))
    fresh = sorted(_logits_keys(model))
    notes = [
        f"{k}: published {(published, *state[k].shape[1:])} vs model {tuple(state[k].shape)}"
        for k in fresh
    ]
    zeroed = zero_new_head(model, fresh)
    return LoadReport(
        source=source, loaded=len(state) - len(fresh), skipped_head=notes, zeroed=zeroed
    )


def _listing(what: str, keys: list[str]) -> str:
    more = f" (and {len(keys) - 10} more)" if len(keys) > 10 else ""
    return f"{what}: {', '.join(keys[:10])}{more}"


def load_weights(
    model: nn.Module, source: Path, *, strict_head: bool = False, zero_head: bool = True
) -> LoadReport:
    """Copy the tensors of ``source`` into ``model``.

    Head tensors (``get_classifier()``'s) that the file lacks, or holds with another shape
    (another number of classes), start afresh and are listed in the report; with ``zero_head``
    the new logits layer is set to zero (see :func:`zero_new_head`). Tensors loaded from the
    file are never changed.

    Args:
        model: the network, usually from ``create_model``.
        source: ``.safetensors`` or a ``.pt/.pth/.bin/.ckpt`` state dict, possibly nested under
            ``'state_dict'``/``'model'`` and with ``'module.'``/``'model.'`` key prefixes.
        strict_head: raise instead of starting a new head when the file's does not fit.
        zero_head: zero the new head's logits layer (False: keep its fresh initialisation).

    Raises:
        ModelError: unreadable or pickled file, missing/unexpected keys, or mismatched shapes.
    """
    source = Path(source)
    target = model.state_dict()
    state = _align(_state_dict(_read(source), source), target)
    head = set() if strict_head else _head_keys(model)
    skipped: list[str] = []
    problems: list[str] = []
    for key, value in state.items():
        if key in target and value.shape != target[key].shape:
            note = f"{key}: file {tuple(value.shape)} vs model {tuple(target[key].shape)}"
            (skipped if key in head else problems).append(note)
    absent = [k for k in target if k not in state]
    missing = [k for k in absent if k not in head]
    skipped += [f"{k}: not in file" for k in absent if k in head]
    unexpected = [k for k in state if k not in target]
    if problems or missing or unexpected:
        parts = [
            _listing(what, keys)
            for what, keys in (
                ("shape mismatch", problems),
                ("missing in file", missing),
                ("unexpected in file", unexpected),
            )
            if keys
        ]
        hint = "Were they saved from the same architecture and options?"
        if unexpected and not missing and not problems and len(absent) > 0:
            hint = (
                f"If the unexpected tensors are the file's classifier under other names, rename "
                f"them to {', '.join(absent)} or leave them out of the file (a new head is "
                "then started)."
            )
        raise ModelError(
            f"{source}: weights do not fit {getattr(model, 'architecture', type(model).__name__)}"
            f" ({'; '.join(parts)}). {hint}"
        )
    skipped_keys = {s.partition(":")[0] for s in skipped}
    model.load_state_dict({k: v for k, v in state.items() if k not in skipped_keys}, strict=False)
    zeroed = zero_new_head(model, skipped_keys) if zero_head else []
    return LoadReport(
        source=source,
        loaded=len(state) - len(skipped_keys & set(state)),
        skipped_head=skipped,
        zeroed=zeroed,
    )


def save_weights(model: nn.Module, path: Path) -> Path:
    """Write ``model``'s state dict to ``path`` as safetensors (atomically) and return ``path``.

    Tensors are made contiguous, and tensors sharing memory are copied, so any model saves.
    """
    from safetensors.torch import save_file

    seen: set[int] = set()
    state = {}
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen or not t.is_contiguous():
            t = t.clone(memory_format=torch.contiguous_format)
        seen.add(t.untyped_storage().data_ptr())
        state[key] = t
    meta = {"format": "pt"}
    if isinstance(model, ImageClassifier):
        meta |= {"architecture": model.architecture, "options": json.dumps(model.options)}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path


# --------------------------------------------------------------------------- library caches


@contextmanager
def _download_guard(hub_dir: Path | None) -> Iterator[None]:
    """A socket timeout for downloads (no endless hang), and optionally another torch hub dir."""
    old_timeout, old_hub = socket.getdefaulttimeout(), torch.hub.get_dir()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    if hub_dir is not None:
        torch.hub.set_dir(str(hub_dir))
    try:
        yield
    finally:
        socket.setdefaulttimeout(old_timeout)
        if hub_dir is not None:
            torch.hub.set_dir(old_hub)


def _not_cached(
    name: str, looked: list[Path], how: str, offline: bool, exc: Any = None
) -> ModelError:
    why = "offline, so nothing was downloaded" if offline else f"the download failed: {exc}"
    return ModelError(
        f"pretrained weights for {name} are not in the cache ({why}). Looked for: "
        f"{' and '.join(map(str, looked))}. {how} Or pass a local weights file with --weights PATH."
    )


def _probe(url: str) -> None:
    """Raise OSError unless ``url``'s host accepts a connection (skipped behind a proxy)."""
    from urllib.request import getproxies

    parts = urlparse(url)
    if parts.hostname and not getproxies():
        port = parts.port or (443 if parts.scheme == "https" else 80)
        socket.create_connection((parts.hostname, port), timeout=_DOWNLOAD_TIMEOUT_S).close()


def torchvision_weights(arch: str, weights: str | Path | None, pretrained: bool) -> Any:
    """The torchvision weights entry asked for (a name like ``"IMAGENET1K_V1"``, or ``DEFAULT``
    when ``pretrained``), or ``None`` when there is none or ``weights`` is a file path."""
    import torchvision.models as tvm

    looks_like_file = isinstance(weights, Path) or (
        isinstance(weights, str)
        and (
            Path(weights).suffix.lower() in {".safetensors", *_TORCH_SUFFIXES}
            or "/" in weights
            or Path(weights).exists()
        )
    )
    if weights is not None and looks_like_file:
        return None
    enum = tvm.get_model_weights(arch)
    if weights is None:
        return enum.DEFAULT if pretrained else None
    try:
        return enum.verify(weights)
    except (KeyError, ValueError) as exc:
        raise ModelError(
            f"'{weights}' is neither a weights file nor a weights name of tv:{arch} "
            f"(names: {', '.join(enum.__members__)})."
        ) from exc


def _torchvision_file(entry: Any, cache_dir: Path | None) -> tuple[Path, str]:
    """Where the torch hub cache keeps ``entry``'s file, and how to put it there."""
    hub = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir())
    file = hub / "checkpoints" / Path(urlparse(entry.url).path).name
    return file, f"Download {entry.url} and put it at exactly {file}."


def check_torchvision_cached(arch: str, entry: Any, *, cache_dir: Path | None) -> None:
    """Raise :class:`ModelError` (where to put the file) unless the torchvision weights entry
    ``entry`` of ``tv:<arch>`` is in the torch hub cache: what offline loading needs."""
    file, how = _torchvision_file(entry, cache_dir)
    if not file.is_file():
        raise _not_cached(f"tv:{arch}", [file], how, True)


def load_torchvision(
    arch: str, entry: Any, *, offline: bool, cache_dir: Path | None, **kwargs: Any
) -> nn.Module:
    """``torchvision.models.get_model(arch, weights=entry)`` from the torch hub cache."""
    import torchvision.models as tvm

    file, how = _torchvision_file(entry, cache_dir)
    if offline:
        check_torchvision_cached(arch, entry, cache_dir=cache_dir)
    with _download_guard(cache_dir):
        try:
            return tvm.get_model(arch, weights=entry, **kwargs)
        except OSError as exc:  # URLError, timeouts, disk errors
            raise _not_cached(f"tv:{arch}", [file], how, offline, exc) from exc


def _timm_cache(cfg: Any, cache_dir: Path | None) -> tuple[Path | None, list[Path], str, str]:
    """(the cached file or None, where it was looked for, how to put it there, a URL to probe).

    timm reads the Hugging Face cache when the weights have a hub id, else the torch hub cache.
    """
    looked: list[Path] = []
    url = None if cfg.custom_load else cfg.url  # custom formats (.npz) need timm's own loader
    how, probe = [], url or ""
    if cfg.hf_hub_id:
        from huggingface_hub import constants, try_to_load_from_cache

        repo, _, revision = cfg.hf_hub_id.partition("@")
        names = [cfg.hf_hub_filename or "model.safetensors", "pytorch_model.bin"]
        for name in names:
            found = try_to_load_from_cache(
                repo, name, cache_dir=cache_dir, revision=revision or None
            )
            if isinstance(found, str):
                return Path(found), [], "", ""
        root = Path(cache_dir or constants.HF_HUB_CACHE)
        looked.append(root / f"models--{repo.replace('/', '--')}" / "snapshots" / "*" / names[0])
        how.append(f"Fetch {repo} into the Hugging Face cache {root} on a connected machine "
                   f"(`hf download {repo}`) and copy that cache here.")  # fmt: skip
        probe = f"{constants.ENDPOINT}/{repo}"
    if cfg.url:
        root = (
            Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
        )
        file = root / Path(urlparse(cfg.url).path).name
        if file.is_file():
            return file, [], "", ""
        looked.append(file)
        how.insert(0, f"Download {cfg.url} and put it at exactly {file}.")
    return None, looked, " Or: ".join(how), probe


def _timm_pretrained_cfg(arch: str) -> Any:
    import timm

    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise ModelError(f"timm publishes no pretrained weights for timm:{arch}; use --weights.")
    return cfg


def check_timm_cached(arch: str, *, cache_dir: Path | None) -> None:
    """Raise :class:`ModelError` (where to put the file) unless timm publishes weights for
    ``timm:<arch>`` and they are in its caches: what offline loading needs. No download."""
    cached, looked, how, _ = _timm_cache(_timm_pretrained_cfg(arch), cache_dir)
    if cached is None:
        raise _not_cached(f"timm:{arch}", looked, how, True)


def load_timm(
    arch: str, *, pretrained: bool, offline: bool, cache_dir: Path | None, **kwargs: Any
) -> nn.Module:
    """``timm.create_model(arch, pretrained=..., **kwargs)`` with weights from timm's caches."""
    import timm

    if not pretrained:
        return timm.create_model(arch, **kwargs)
    cached, looked, how, probe = _timm_cache(_timm_pretrained_cfg(arch), cache_dir)
    if cached is not None:  # load that file directly: no network round trip at all
        overlay = {"file": str(cached), "source": None}
        return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
    if offline:
        raise _not_cached(f"timm:{arch}", looked, how, offline)
    with _download_guard(None):
        try:
            _probe(probe)  # one try: the Hugging Face client would retry 5 times with back-off
            return timm.create_model(arch, pretrained=True, cache_dir=cache_dir, **kwargs)
        except Exception as exc:  # requests/httpx/HF hub errors have no common base class
            raise _not_cached(f"timm:{arch}", looked, how, offline, exc) from exc


# -------------------------------------------------------------------------- model surgery


def adapt_input_channels(model: nn.Module, in_chans: int) -> None:
    """Replace the first 3-channel convolution by an ``in_chans`` one, keeping its weights
    (summed for 1 channel, tiled and rescaled for more), as timm does for pretrained models."""
    name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    if conv.in_channels != 3 or conv.groups != 1:
        raise ModelError(f"cannot adapt {name} ({conv}) to {in_chans} input channels.")
    new = copy.deepcopy(conv)  # same kernel, stride, padding, bias, ...
    new.in_channels = in_chans
    with torch.no_grad():
        w = conv.weight
        if in_chans == 1:
            adapted = w.sum(dim=1, keepdim=True)
        else:
            adapted = w.repeat(1, -(-in_chans // 3), 1, 1)[:, :in_chans] * (3 / in_chans)
    new.weight = nn.Parameter(adapted.contiguous())
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, new)
