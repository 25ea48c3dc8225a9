"""Pickled scikit-learn weights are pinned to the scikit-learn release that wrote them."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from sklearn.preprocessing import StandardScaler

from callemo.models.base import ModelError
from callemo.models.card import check_sklearn_version, dump_sklearn, load_sklearn


def _saved(tmp_path):
    scaler = StandardScaler().fit(np.arange(12, dtype=float).reshape(6, 2))
    keys = dump_sklearn(scaler, tmp_path / "w.joblib")
    return scaler, keys


def test_the_card_records_the_running_version_and_loads_back(tmp_path):
    scaler, keys = _saved(tmp_path)
    assert keys == {"sklearn_version": sklearn.__version__}
    back = load_sklearn(tmp_path / "w.joblib", keys)
    np.testing.assert_array_equal(back.mean_, scaler.mean_)


def test_another_patch_release_is_accepted(tmp_path):
    _saved(tmp_path)
    major, minor = sklearn.__version__.split(".")[:2]
    load_sklearn(tmp_path / "w.joblib", {"sklearn_version": f"{major}.{minor}.999"})


@pytest.mark.parametrize("saved", ["0.24.2", "9.1.0"])
def test_another_minor_release_is_refused_clearly(tmp_path, saved):
    _saved(tmp_path)
    with pytest.raises(ModelError) as e:
        load_sklearn(tmp_path / "w.joblib", {"sklearn_version": saved})
    msg = str(e.value)
    assert f"saved with scikit-learn {saved}" in msg and sklearn.__version__ in msg
    assert f"scikit-learn=={saved}" in msg and "retrain" in msg and "model.yaml" in msg


def test_a_card_without_the_version_is_refused(tmp_path):
    _saved(tmp_path)
    with pytest.raises(ModelError, match="does not record the scikit-learn version"):
        load_sklearn(tmp_path / "w.joblib", {"type": "svm"})
    with pytest.raises(ModelError, match="does not record"):
        check_sklearn_version({}, tmp_path / "model.yaml")
