"""Tests of skdnn._utils.bundle, the safe on-disk format."""

import hashlib
import json
import os
import pickle
import re
import struct
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from skdnn._utils.bundle import FORMAT_NAME, FORMAT_VERSION, read_bundle, write_bundle
from skdnn.exceptions import SkdnnWarning


def _assert_same_tensors(actual, expected):
    assert actual.keys() == expected.keys()
    for name, tensor in expected.items():
        assert actual[name].dtype == tensor.dtype, name
        assert actual[name].shape == tensor.shape, name
        assert actual[name].device.type == "cpu", name
        assert torch.equal(actual[name], tensor), name


def _header(raw: bytes) -> dict:
    (size,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + size])


def _with_header(raw: bytes, header: dict) -> bytes:
    """Rewrite the safetensors header of ``raw``, keeping its tensor data."""
    (size,) = struct.unpack("<Q", raw[:8])
    new = json.dumps(header).encode()
    return struct.pack("<Q", len(new)) + new + raw[8 + size :]


@pytest.fixture
def bundle_path(tmp_path):
    path = tmp_path / "model.skdnn"
    write_bundle(path, {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4)}, {"a": 1})
    return path


# ------------------------------------------------------------------ round trip


def test_round_trip_dtypes_and_nested_spec(tmp_path):
    tensors = {
        "layer.0.weight": torch.randn(5, 3),
        "layer.0.bias": torch.randn(5, dtype=torch.float64),
        "classes": torch.tensor([3, -1, 2**40], dtype=torch.int64),
        "mask": torch.tensor([[True, False], [False, True]]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 7),
    }
    spec = {
        "estimator": "MLPClassifier",
        "params": {"hidden_layer_sizes": [64, 32], "alpha": 1e-4, "verbose": False},
        "classes": ["cat", "dog", None],
        "history": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": float("inf")}],
        "nested": {"deeper": {"deepest": []}},
        "empty_dict": {},
        "unicode": "Größe ✓",
    }
    path = tmp_path / "m.skdnn"
    write_bundle(path, tensors, spec)
    loaded_tensors, loaded_spec = read_bundle(str(path))

    _assert_same_tensors(loaded_tensors, tensors)
    assert loaded_spec == spec
    assert loaded_spec["history"][1]["loss"] == float("inf")


def test_round_trip_empty_tensors_and_empty_spec(tmp_path):
    path = tmp_path / "m.skdnn"
    write_bundle(path, {}, {})
    assert read_bundle(path) == ({}, {})


def test_loaded_tensors_are_writable_and_independent(tmp_path):
    path = tmp_path / "m.skdnn"
    write_bundle(path, {"a": torch.zeros(3), "b": torch.zeros(3)}, {})
    tensors, _ = read_bundle(path)
    tensors["a"] += 1
    assert torch.equal(tensors["a"], torch.ones(3))
    assert torch.equal(tensors["b"], torch.zeros(3))


def test_shared_and_non_contiguous_tensors(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    tensors = {
        "base": base,
        "same": base,  # the very same tensor under two names
        "tied": base.view(6, 4),  # same storage, other shape
        "row": base[1],  # contiguous slice of the storage
        "transposed": base.t(),  # non-contiguous
        "strided": base[:, ::2],  # non-contiguous
    }
    path = tmp_path / "m.skdnn"
    write_bundle(path, tensors, {})
    loaded, _ = read_bundle(path)

    _assert_same_tensors(loaded, {k: v.contiguous() for k, v in tensors.items()})
    loaded["base"][0, 0] = -1.0  # the loaded tensors do not alias each other
    assert loaded["same"][0, 0] == 0.0 and loaded["tied"][0, 0] == 0.0


def test_write_does_not_modify_or_alias_inputs(tmp_path):
    weight = torch.ones(2, 2, requires_grad=True)
    path = tmp_path / "m.skdnn"
    write_bundle(path, {"w": weight}, {"k": [1]})
    loaded, _ = read_bundle(path)
    assert not loaded["w"].requires_grad
    assert weight.requires_grad and torch.equal(weight.detach(), torch.ones(2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_tensors_load_on_cpu(tmp_path):
    path = tmp_path / "m.skdnn"
    write_bundle(path, {"w": torch.ones(3, device="cuda")}, {})
    loaded, _ = read_bundle(path)
    assert loaded["w"].device.type == "cpu"
    assert torch.equal(loaded["w"], torch.ones(3))


def test_file_is_plain_safetensors_with_skdnn_metadata(bundle_path):
    metadata = _header(bundle_path.read_bytes())["__metadata__"]
    assert metadata["format"] == FORMAT_NAME
    assert metadata["format_version"] == str(FORMAT_VERSION)
    assert json.loads(metadata["spec"]) == {"a": 1}
    assert re.fullmatch("sha256:[0-9a-f]{64}", metadata["checksum"])


# ------------------------------------------------------------------- atomicity


def test_replaces_existing_file_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "m.skdnn"
    path.write_bytes(b"old content")
    write_bundle(path, {"w": torch.ones(2)}, {"version": "new"})
    assert read_bundle(path)[1] == {"version": "new"}
    write_bundle(path, {"w": torch.zeros(2)}, {"version": "newer"})
    tensors, spec = read_bundle(path)
    assert spec == {"version": "newer"} and torch.equal(tensors["w"], torch.zeros(2))
    assert os.listdir(tmp_path) == ["m.skdnn"]


def test_failed_write_keeps_old_file_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "m.skdnn"
    write_bundle(path, {"w": torch.ones(2)}, {"version": "old"})

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        write_bundle(path, {"w": torch.zeros(2)}, {"version": "new"})
    monkeypatch.undo()

    assert os.listdir(tmp_path) == ["m.skdnn"]
    assert read_bundle(path)[1] == {"version": "old"}


def test_invalid_spec_writes_nothing(tmp_path):
    path = tmp_path / "m.skdnn"
    with pytest.raises(TypeError):
        write_bundle(path, {"w": torch.ones(2)}, {"bad": (1, 2)})
    assert os.listdir(tmp_path) == []


def test_missing_directory_raises_naming_the_given_path(tmp_path):
    path = tmp_path / "no" / "m.skdnn"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        write_bundle(path, {}, {})


def test_directory_as_destination_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        write_bundle(tmp_path, {}, {})
    assert tmp_path.is_dir()


def test_special_file_is_refused_not_replaced(tmp_path):
    if os.name == "nt":
        pytest.skip("FIFOs are POSIX")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        write_bundle(fifo, {"w": torch.ones(2)}, {})
    assert fifo.is_fifo()
    assert os.listdir(tmp_path) == ["pipe"]


def test_symlink_is_written_through(tmp_path):
    target = tmp_path / "models" / "m.skdnn"
    target.parent.mkdir()
    write_bundle(target, {"w": torch.zeros(2)}, {})
    link = tmp_path / "latest.skdnn"
    link.symlink_to(target)
    write_bundle(link, {"w": torch.ones(2)}, {"v": 2})
    assert link.is_symlink()
    tensors, spec = read_bundle(target)
    assert torch.equal(tensors["w"], torch.ones(2)) and spec == {"v": 2}


def test_file_permissions_follow_umask(tmp_path):
    if os.name == "nt":
        pytest.skip("POSIX permissions")
    path = tmp_path / "m.skdnn"
    write_bundle(path, {}, {})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------ invalid input


@pytest.mark.parametrize(
    ("spec", "location"),
    [
        ({"sizes": (1, 2)}, r"spec\['sizes'\].*use a list"),
        ({"x": np.float64(1.0)}, r"spec\['x'\].*numpy"),
        ({"x": np.int64(1)}, r"spec\['x'\].*numpy"),
        ({"x": np.zeros(2)}, r"spec\['x'\].*ndarray"),
        ({"params": {"layers": [1, {1, 2}]}}, r"spec\['params'\]\['layers'\]\[1\].*set"),
        ({"t": torch.ones(1)}, r"spec\['t'\].*Tensor"),
        ({"f": len}, r"spec\['f'\]"),
        ({"nested": {3: "a"}}, r"spec\['nested'\] has the key 3"),
    ],
)
def test_spec_must_be_plain_json(tmp_path, spec, location):
    with pytest.raises(TypeError, match=location):
        write_bundle(tmp_path / "m.skdnn", {}, spec)


def test_spec_must_be_a_mapping(tmp_path):
    with pytest.raises(TypeError, match="mapping"):
        write_bundle(tmp_path / "m.skdnn", {}, [1, 2])


def test_spec_cycle_is_rejected(tmp_path):
    spec = {"a": []}
    spec["a"].append(spec)
    with pytest.raises(ValueError, match=r"spec\['a'\]\[0\] contains a reference cycle"):
        write_bundle(tmp_path / "m.skdnn", {}, spec)


def test_repeated_non_cyclic_references_are_fine(tmp_path):
    shared = {"units": 8}
    write_bundle(tmp_path / "m.skdnn", {}, {"a": shared, "b": shared, "c": [shared, shared]})
    spec = read_bundle(tmp_path / "m.skdnn")[1]
    assert spec == {"a": {"units": 8}, "b": {"units": 8}, "c": [{"units": 8}] * 2}


@pytest.mark.parametrize(
    ("tensors", "error", "match"),
    [
        ({1: torch.ones(1)}, TypeError, "tensor names must be str"),
        ({"w": np.ones(1)}, TypeError, r"tensors\['w'\] is a ndarray"),
        ({"__metadata__": torch.ones(1)}, ValueError, "reserved"),
    ],
)
def test_invalid_tensors(tmp_path, tensors, error, match):
    with pytest.raises(error, match=match):
        write_bundle(tmp_path / "m.skdnn", tensors, {})


# -------------------------------------------------------------- corrupt files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_bundle(tmp_path / "absent.skdnn")


@pytest.mark.parametrize("keep", [0, 5, 8, 20, -1])
def test_truncated_file(bundle_path, keep):
    raw = bundle_path.read_bytes()
    bundle_path.write_bytes(raw[:keep])  # keep=-1 drops the last byte
    with pytest.raises(
        ValueError, match=r"not a valid skdnn model file.*(truncated|corrupt)"
    ) as info:
        read_bundle(bundle_path)
    assert str(bundle_path) in str(info.value)


def test_random_bytes(tmp_path):
    path = tmp_path / "random.skdnn"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="not a valid skdnn model file"):
        read_bundle(path)


def test_plain_safetensors_file_without_skdnn_metadata(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.ones(2)}, path)
    with pytest.raises(ValueError, match="no skdnn metadata"):
        read_bundle(path)
    save_file({"w": torch.ones(2)}, path, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="no skdnn metadata"):
        read_bundle(path)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 99])
def test_newer_format_version(bundle_path, version):
    raw = bundle_path.read_bytes()
    header = _header(raw)
    header["__metadata__"]["format_version"] = str(version)
    bundle_path.write_bytes(_with_header(raw, header))
    with pytest.raises(ValueError, match=f"unsupported format version {version}") as info:
        read_bundle(bundle_path)
    assert str(bundle_path) in str(info.value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format_version": "one"}, "format version 'one' is malformed"),
        ({"format_version": "0"}, "unsupported format version 0"),
        ({"spec": "{not json"}, "spec is not valid JSON"),
        ({"spec": "[1, 2]"}, "spec is not a JSON object"),
    ],
)
def test_corrupt_metadata(bundle_path, change, match):
    raw = bundle_path.read_bytes()
    header = _header(raw)
    header["__metadata__"].update(change)
    bundle_path.write_bytes(_with_header(raw, header))
    with pytest.raises(ValueError, match=match):
        read_bundle(bundle_path)


def test_missing_spec(bundle_path):
    raw = bundle_path.read_bytes()
    header = _header(raw)
    del header["__metadata__"]["spec"]
    bundle_path.write_bytes(_with_header(raw, header))
    with pytest.raises(ValueError, match="spec is missing"):
        read_bundle(bundle_path)


def test_corrupt_tensor_table(bundle_path):
    raw = bundle_path.read_bytes()
    header = _header(raw)
    header["w"]["data_offsets"] = [0, 10**6]
    bundle_path.write_bytes(_with_header(raw, header))
    with pytest.raises(ValueError, match="do not match the checksum"):
        read_bundle(bundle_path)
    del header["__metadata__"]["checksum"]  # also without one, as in files of earlier versions
    bundle_path.write_bytes(_with_header(raw, header))
    with (
        pytest.warns(SkdnnWarning, match="no checksum"),
        pytest.raises(ValueError, match="tensor table or data is truncated or corrupt"),
    ):
        read_bundle(bundle_path)


class _Exploit:
    """Unpickling this object would create a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_is_rejected_without_executing_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"model": _Exploit(marker)})
    # The payload really is harmful: unpickling it would create the marker.
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Exploit(probe))).close()
    assert probe.exists()

    path = tmp_path / "model.skdnn"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match="not a valid skdnn model file"):
        read_bundle(path)
    assert not marker.exists()


def test_torch_save_file_is_rejected_without_executing_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2), "evil": _Exploit(marker)}, path)
    with pytest.raises(ValueError, match="not a valid skdnn model file"):
        read_bundle(path)
    assert not marker.exists()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=512))
def test_random_bytes_only_ever_raise_value_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "m.skdnn"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="not a valid skdnn model file"):
        read_bundle(path)


@settings(max_examples=200, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=10**6),
    replacement=st.binary(min_size=1, max_size=16),
)
def test_mutated_bundles_load_or_raise_value_error(tmp_path_factory, position, replacement):
    """Overwriting bytes of a valid bundle either still loads or gives ValueError."""
    path = tmp_path_factory.mktemp("fuzz") / "m.skdnn"
    write_bundle(path, {"w": torch.arange(4.0), "m": torch.tensor([True])}, {"a": [1, "x"]})
    raw = bytearray(path.read_bytes())
    position %= len(raw)
    raw[position : position + len(replacement)] = replacement
    path.write_bytes(bytes(raw))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkdnnWarning)  # a mutation may hit the checksum key
            tensors, spec = read_bundle(path)
    except ValueError as exc:
        assert "not a valid skdnn model file" in str(exc)
    else:  # never silently wrong: what loads is what was saved
        assert spec == {"a": [1, "x"]}
        _assert_same_tensors(tensors, {"w": torch.arange(4.0), "m": torch.tensor([True])})


# -------------------------------------------------------------------- checksum


def _data_start(raw: bytes) -> int:
    (size,) = struct.unpack("<Q", raw[:8])
    return 8 + size


@pytest.mark.parametrize("offset", [0, 5, 47])
def test_corrupted_tensor_bytes_raise(bundle_path, offset):
    raw = bytearray(bundle_path.read_bytes())
    raw[_data_start(raw) + offset] ^= 0x10  # one bit of one weight: still a valid float
    bundle_path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="do not match the checksum") as info:
        read_bundle(bundle_path)
    assert str(bundle_path) in str(info.value)


@pytest.mark.parametrize(
    "change",
    [
        lambda header: header["__metadata__"].update(spec='{"a": 2}'),
        lambda header: header["w"].update(shape=[4, 3]),
        lambda header: header["__metadata__"].update(checksum="sha256:" + "0" * 64),
    ],
    ids=["spec", "tensor-table", "checksum"],
)
def test_consistent_but_changed_header_raises(bundle_path, change):
    raw = bundle_path.read_bytes()
    header = _header(raw)
    change(header)
    bundle_path.write_bytes(_with_header(raw, header))
    with pytest.raises(ValueError, match="do not match the checksum"):
        read_bundle(bundle_path)


@pytest.mark.parametrize("checksum", [42, "md5:abc", "sha256:xyz"])
def test_malformed_checksum_raises(bundle_path, checksum):
    raw = bundle_path.read_bytes()
    header = _header(raw)
    header["__metadata__"]["checksum"] = checksum
    bundle_path.write_bytes(_with_header(raw, header))
    with pytest.raises(ValueError, match="checksum"):
        read_bundle(bundle_path)


def test_checksum_is_sha256_of_table_spec_and_data(bundle_path):
    # Documented layout, so that other tools can verify a file.
    raw = bundle_path.read_bytes()
    header = _header(raw)
    metadata = header.pop("__metadata__")
    digest = hashlib.sha256()
    digest.update(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\0" + metadata["spec"].encode() + b"\0")
    digest.update(raw[_data_start(raw) :])
    assert metadata["checksum"] == "sha256:" + digest.hexdigest()


def test_file_without_checksum_loads_with_a_warning(tmp_path):
    # Files of skdnn versions before checksums: readable, and the user is told
    # that corruption cannot be detected and how to fix that.
    path = tmp_path / "old.skdnn"
    metadata = {"format": FORMAT_NAME, "format_version": "1", "spec": json.dumps({"a": 1})}
    save_file({"w": torch.arange(3.0)}, path, metadata=metadata)
    with pytest.warns(SkdnnWarning, match="no checksum.*save it again"):
        tensors, spec = read_bundle(path)
    assert spec == {"a": 1}
    assert torch.equal(tensors["w"], torch.arange(3.0))
