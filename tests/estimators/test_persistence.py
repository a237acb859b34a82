import os
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from skdnn import DNNClassifier
from skdnn._utils.bundle import read_bundle, write_bundle
from skdnn.exceptions import SkdnnWarning


def small(**params):
    defaults = dict(hidden_layer_sizes=(16, 16), max_epochs=4, early_stopping=False,
                    device="cpu", random_state=0)
    return DNNClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def labelled(digits):
    X, y, X_test, _ = digits
    names = np.array([f"digit-{d}" for d in range(10)], dtype=object)
    frame = pd.DataFrame(X[:300], columns=[f"px{i}" for i in range(64)])
    clf = small(normalization="batch", dropout=0.1, activation="prelu").fit(frame, names[y[:300]])
    return clf, pd.DataFrame(X_test, columns=frame.columns)


def test_save_load_round_trip(labelled, tmp_path):
    clf, X_test = labelled
    path = tmp_path / "model.skdnn"
    clf.save(path)
    loaded = DNNClassifier.load(path)
    assert np.array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))
    assert list(loaded.predict(X_test)) == list(clf.predict(X_test))
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert list(loaded.feature_names_in_) == list(clf.feature_names_in_)
    assert loaded.history_ == clf.history_
    assert loaded.get_params() == clf.get_params()
    assert all(p.device.type == "cpu" for p in loaded.model_.parameters())
    assert [f for f in os.listdir(tmp_path)] == ["model.skdnn"]  # no temporary files left


def test_unfitted_save_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        small().save(tmp_path / "x.skdnn")


def test_callable_hyperparameter_is_not_stored(digits, tmp_path):
    X, y, _, _ = digits
    clf = small(augment=lambda batch, generator: batch).fit(X[:100], y[:100])
    with pytest.warns(SkdnnWarning, match="augment"):
        clf.save(tmp_path / "m.skdnn")
    assert DNNClassifier.load(tmp_path / "m.skdnn").augment is None


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/skdnn-pwned",))


@pytest.mark.parametrize(
    "content",
    [pickle.dumps(_Exploit()), b"", b"\x00" * 7, os.urandom(200)],
    ids=["pickle", "empty", "short", "random"],
)
def test_bad_files_give_value_error_and_run_nothing(tmp_path, content):
    path = tmp_path / "bad.skdnn"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a valid skdnn model file"):
        DNNClassifier.load(path)
    assert not os.path.exists("/tmp/skdnn-pwned")


def test_truncated_file(labelled, tmp_path):
    clf, _ = labelled
    path = tmp_path / "m.skdnn"
    clf.save(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError):
        DNNClassifier.load(path)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda spec: spec.update(estimator="os.system"), "unknown type"),
        (lambda spec: spec["module"]["children"][0][1].update(type="builtins.eval"),
         "unknown layer type"),
    ],
)
def test_crafted_description_cannot_name_arbitrary_code(labelled, tmp_path, edit, match):
    clf, _ = labelled
    path = tmp_path / "m.skdnn"
    clf.save(path)
    tensors, spec = read_bundle(path)
    edit(spec)
    write_bundle(path, tensors, spec)
    with pytest.raises(ValueError, match=match):
        DNNClassifier.load(path)


def test_checkpoints_and_exact_resume(digits, tmp_path):
    X, y, X_test, _ = digits
    params = dict(dropout=0.2, lr_schedule="1cycle", max_epochs=4)
    full = small(checkpoint_dir=tmp_path, **params).fit(X[:500], y[:500])
    names = sorted(os.listdir(tmp_path))
    assert names == ["epoch-0001.skdnn", "epoch-0002.skdnn", "epoch-0003.skdnn",
                     "epoch-0004.skdnn", "final.skdnn"]
    resumed = DNNClassifier.load(tmp_path / "epoch-0002.skdnn")
    assert resumed.n_epochs_ == 2
    resumed.set_params(warm_start=True, max_epochs=2, checkpoint_dir=None)
    resumed.fit(X[:500], y[:500])
    assert resumed.n_epochs_ == 4
    assert [r["lr"] for r in resumed.history_] == [r["lr"] for r in full.history_]
    assert np.array_equal(resumed.predict_proba(X_test), full.predict_proba(X_test))


def test_checkpoint_every(digits, tmp_path):
    X, y, _, _ = digits
    small(checkpoint_dir=tmp_path, checkpoint_every=2, max_epochs=5).fit(X[:100], y[:100])
    assert sorted(os.listdir(tmp_path)) == ["epoch-0002.skdnn", "epoch-0004.skdnn", "final.skdnn"]


def test_pickle_keeps_cpu_tensors(labelled):
    clf, X_test = labelled
    state = clf.__getstate__()
    assert all(t.device.type == "cpu" for t in state["model_"].state_dict().values())
    restored = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))
    assert torch.equal(restored._rng_state["shuffle"], clf._rng_state["shuffle"])


def test_corrupted_weight_bytes_raise_value_error(labelled, tmp_path):
    # One bit of one stored weight flipped: the file still parses and, without
    # a checksum, would load and predict differently.
    clf, _ = labelled
    path = tmp_path / "model.skdnn"
    clf.save(path)
    raw = bytearray(path.read_bytes())
    header_size = int.from_bytes(raw[:8], "little")
    raw[8 + header_size + len(raw[8 + header_size :]) // 2] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"model\.skdnn.*do not match the checksum"):
        DNNClassifier.load(path)


def test_file_of_an_earlier_version_without_checksum_loads_with_a_warning(labelled, tmp_path):
    from safetensors.torch import load_file, safe_open, save_file

    clf, X_test = labelled
    path = tmp_path / "model.skdnn"
    clf.save(path)
    with safe_open(path, "pt") as file:
        metadata = file.metadata()
    del metadata["checksum"]  # what skdnn wrote before checksums
    save_file(load_file(path), path, metadata=metadata)
    with pytest.warns(SkdnnWarning, match="no checksum"):
        loaded = DNNClassifier.load(path)
    assert np.array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))
    loaded.save(path)  # saving again adds the checksum: no warning now
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkdnnWarning)
        DNNClassifier.load(path)
