"""The on-disk format of skdnn: tensors plus a JSON spec, never pickle.

A *bundle* is a `safetensors <https://github.com/huggingface/safetensors>`_
file whose metadata holds three strings:

``format``
    Always ``"skdnn"``.
``format_version``
    The integer version of the layout, as a decimal string.
``spec``
    One JSON document (an object) that describes everything that is not a
    tensor: hyper-parameters, class labels, training state, ...
``checksum``
    ``"sha256:"`` and the hex SHA-256 digest of the tensor table (the header
    without its metadata, as JSON with sorted keys and no spaces), a zero byte,
    the spec, a zero byte and the tensor data. Reading verifies it, so a file
    changed on disk or in transfer is refused instead of predicting wrongly.
    Files written before skdnn stored checksums have none; they load with a
    warning.

Reading a bundle parses JSON and copies raw tensor bytes; it never unpickles
anything, so loading a file from an untrusted source executes no code. (The
checksum detects accidents, not tampering: whoever can change the file can
recompute it.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _safetensors_load
from safetensors.torch import save as _safetensors_save

from skdnn.exceptions import SkdnnWarning

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "read_bundle", "write_bundle"]

FORMAT_NAME = "skdnn"
FORMAT_VERSION = 1

# Reserved by the safetensors format for the metadata block.
_METADATA_KEY = "__metadata__"
_CHECKSUM_KEY = "checksum"
_CHECKSUM_PATTERN = re.compile("sha256:[0-9a-f]{64}")
# Errors the safetensors reader raises on malformed input besides its own
# SafetensorError (unknown dtype names, inconsistent shapes, ...).
_LOAD_ERRORS = (SafetensorError, KeyError, ValueError, TypeError, RuntimeError, AssertionError)


def write_bundle(
    path: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    spec: Mapping[str, Any],
) -> None:
    """Write tensors and a JSON spec to ``path`` atomically.

    The file is first written to a temporary file in the same directory,
    flushed and fsync-ed, then moved over ``path`` with :func:`os.replace`:
    a crash leaves either the old file or the complete new one, never a
    half-written file under the final name.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. An existing file is replaced (through a symbolic
        link, whose target is replaced); the parent directory must exist.
    tensors : Mapping of str to torch.Tensor
        Named tensors. They are detached, copied to CPU and made contiguous,
        so a model trained on a GPU loads on a CPU-only machine. Tensors that
        share storage are stored as independent copies.
    spec : Mapping of str to Any
        Plain JSON data: ``dict`` (or other mapping) with ``str`` keys,
        ``list``, ``str``, ``int``, ``float``, ``bool`` and ``None``. Floats
        may be non-finite (they are written as ``NaN``/``Infinity``, which
        :func:`read_bundle` reads back). Anything else, tuples and numpy
        scalars included, is rejected rather than silently converted.

    Raises
    ------
    TypeError
        If a tensor name is not a string, a value of ``tensors`` is not a
        tensor, or ``spec`` holds a value that is not plain JSON data (the
        message names its location, e.g. ``spec['params']['sizes'][1]``).
    ValueError
        If a tensor name is reserved by the format, ``spec`` contains a
        reference cycle, or ``path`` is a directory or a special file (device,
        FIFO, socket).
    FileNotFoundError
        If the parent directory of ``path`` does not exist (the message names
        ``path``).

    See Also
    --------
    read_bundle : Read the file back.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "model.skdnn"
    ...     write_bundle(path, {"weight": torch.ones(2, 3)}, {"hidden": [64, 32]})
    ...     tensors, spec = read_bundle(path)
    >>> tensors["weight"].shape, spec
    (torch.Size([2, 3]), {'hidden': [64, 32]})
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a mapping (a JSON object), got {type(spec).__name__}")
    path = Path(path)
    spec_json = json.dumps(_plain_json(spec, "spec", set()), ensure_ascii=False)
    cpu_tensors = _cpu_copies(tensors)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "spec": spec_json,
    }
    # The checksum covers the tensor table and data, which do not depend on the
    # metadata: serialize once to learn them, then again with the checksum.
    unsigned = _safetensors_save(cpu_tensors, metadata=metadata)
    header, data_start = _read_header(path, unsigned)
    metadata[_CHECKSUM_KEY] = _checksum(header, spec_json, memoryview(unsigned)[data_start:])
    payload = _safetensors_save(cpu_tensors, metadata=metadata)
    _atomic_write(path, payload)


def read_bundle(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a bundle written by :func:`write_bundle`.

    The file is validated before anything is decoded: it must be a
    safetensors file whose metadata names the skdnn format and a format
    version this module knows. Only JSON and raw tensor bytes are parsed.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    tensors : dict of str to torch.Tensor
        The tensors, on CPU, contiguous and writable.
    spec : dict
        The JSON spec, as plain Python data.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a skdnn model file (for example a pickle, random
        bytes, or a safetensors file written by another program), is
        truncated or corrupt, or has a format version newer than this
        version of skdnn can read. The message names the file.

    See Also
    --------
    write_bundle : Write a bundle.
    """
    path = Path(path)
    data = path.read_bytes()
    header, data_start = _read_header(path, data)
    metadata = header.get(_METADATA_KEY)
    if not isinstance(metadata, dict):
        raise _invalid(path, "it carries no skdnn metadata (a safetensors file from elsewhere?)")
    _check_format(path, metadata)
    spec = _decode_spec(path, metadata)
    _verify_checksum(path, header, metadata, memoryview(data)[data_start:])
    try:
        tensors = _safetensors_load(data)
    except _LOAD_ERRORS as exc:
        raise _invalid(path, f"its tensor table or data is truncated or corrupt ({exc})") from exc
    return tensors, spec


# --------------------------------------------------------------------- write


def _plain_json(value: Any, where: str, active: set[int]) -> Any:
    """Return a plain-JSON copy of ``value``; raise if it is not plain JSON.

    ``where`` is the location of ``value`` for error messages and ``active``
    holds the ids of the containers being visited (cycle detection).
    """
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, (Mapping, list)):
        if id(value) in active:
            raise ValueError(f"{where} contains a reference cycle; the spec must be a tree")
        active.add(id(value))
        if isinstance(value, list):
            copy: Any = [_plain_json(item, f"{where}[{i}]", active) for i, item in enumerate(value)]
        else:
            copy = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"{where} has the key {key!r} of type {type(key).__name__}; "
                        "spec keys must be str"
                    )
                copy[key] = _plain_json(item, f"{where}[{key!r}]", active)
        active.discard(id(value))
        return copy
    hint = " (use a list)" if isinstance(value, tuple) else ""
    raise TypeError(
        f"{where} is of type {type(value).__module__}.{type(value).__qualname__}, which is not "
        f"plain JSON data{hint}; the spec may only hold dict, list, str, int, float, bool "
        "and None"
    )


def _cpu_copies(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies of ``tensors``, each with its own storage."""
    copies = {}
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, got {name!r} ({type(name).__name__})")
        if name == _METADATA_KEY:
            raise ValueError(f"{_METADATA_KEY!r} is reserved by the file format")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensors[{name!r}] is a {type(tensor).__name__}, not a torch.Tensor")
        # copy=True gives every tensor its own storage: safetensors refuses
        # tensors that share memory, and a view would drag its base along.
        copies[name] = tensor.detach().to(
            device="cpu", memory_format=torch.contiguous_format, copy=True
        )
    return copies


def _writable_destination(path: Path) -> Path:
    """The regular file that ``path`` names, checked before anything is written.

    A symbolic link is written through (its target is replaced, the link kept);
    a directory, device, FIFO or socket is refused rather than replaced by a
    regular file, and a missing parent directory is reported under the name the
    caller gave, not the temporary file's.
    """
    target = path.resolve() if path.is_symlink() else path
    if target.exists() and not target.is_file():
        kind = "a directory" if target.is_dir() else "not a regular file"
        raise ValueError(f"cannot save to {path}: it is {kind}")
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save to {path}: the directory {target.parent} does not exist"
        )
    return target


def _atomic_write(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` via a fsync-ed temporary file and a rename."""
    path = _writable_destination(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        # Mode "x" creates the file with the usual permissions (0o666 & ~umask).
        with open(tmp, "xb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX only; Windows cannot open directories)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- read


def _invalid(path: Path, reason: str) -> ValueError:
    return ValueError(f"{path} is not a valid skdnn model file: {reason}")


def _read_header(path: Path, data: bytes) -> tuple[dict[str, Any], int]:
    """Parse the safetensors header of ``data``; return it and where the tensor data starts."""
    if len(data) < 8:
        raise _invalid(path, f"it is only {len(data)} bytes long (truncated or corrupt)")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise _invalid(
            path,
            f"its header claims {header_size} bytes but the file has {len(data)} "
            "(truncated or corrupt, or not a safetensors file at all)",
        )
    try:
        header = json.loads(data[8 : 8 + header_size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _invalid(path, f"its header is not valid JSON (truncated or corrupt: {exc})") from exc
    if not isinstance(header, dict):
        raise _invalid(path, "its header is not a JSON object (corrupt)")
    return header, 8 + header_size


def _check_format(path: Path, metadata: dict[str, Any]) -> None:
    if metadata.get("format") != FORMAT_NAME:
        raise _invalid(path, "it carries no skdnn metadata (a safetensors file from elsewhere?)")
    version_text = metadata.get("format_version")
    if not isinstance(version_text, str) or not re.fullmatch(r"[0-9]{1,9}", version_text):
        raise _invalid(path, f"its format version {version_text!r} is malformed (corrupt)")
    version = int(version_text)
    if not 1 <= version <= FORMAT_VERSION:
        raise _invalid(
            path,
            f"it has the unsupported format version {version}; this version of skdnn "
            f"reads format versions 1 to {FORMAT_VERSION} (upgrade skdnn to read it)",
        )


def _decode_spec(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    spec_text = metadata.get("spec")
    if not isinstance(spec_text, str):
        raise _invalid(path, "its spec is missing (corrupt)")
    try:
        spec = json.loads(spec_text)
    except (ValueError, RecursionError) as exc:
        raise _invalid(path, f"its spec is not valid JSON (corrupt: {exc})") from exc
    if not isinstance(spec, dict):
        raise _invalid(path, "its spec is not a JSON object (corrupt)")
    return spec


def _checksum(header: Mapping[str, Any], spec_text: str, data: memoryview) -> str:
    """``"sha256:<hex>"`` of the tensor table, the spec and the tensor data."""
    table = {name: entry for name, entry in header.items() if name != _METADATA_KEY}
    digest = hashlib.sha256()
    digest.update(json.dumps(table, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\0" + spec_text.encode("utf-8") + b"\0")
    digest.update(data)
    return f"sha256:{digest.hexdigest()}"


def _verify_checksum(
    path: Path, header: dict[str, Any], metadata: dict[str, Any], data: memoryview
) -> None:
    """Raise unless the stored checksum matches; warn when the file has none."""
    stored = metadata.get(_CHECKSUM_KEY)
    if stored is None:
        warnings.warn(
            f"{path} has no checksum (it was saved by an earlier version of skdnn), so "
            "corruption of its weights cannot be detected; load it, check it, and save it "
            "again to add one.",
            SkdnnWarning,
            stacklevel=3,
        )
        return
    if not isinstance(stored, str) or not _CHECKSUM_PATTERN.fullmatch(stored):
        raise _invalid(path, f"its checksum {stored!r} is malformed (corrupt)")
    if _checksum(header, metadata["spec"], data) != stored:
        raise _invalid(
            path,
            "its contents do not match the checksum stored in it: the file is corrupt "
            "(changed on disk or damaged in transfer); use an intact copy",
        )
