"""Whole objects: fitted estimators and classes that name their array attributes.

``convert_tree`` walks an object whose class names its array attributes
(``__xpbridge_attributes__``) or that is a scikit-learn estimator, and returns
a converted copy: every attribute converted as a tree leaf would be, planned
together (one failing attribute converts nothing), the source untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
import torch

import xpbridge as xb


class Model:
    """A fitted model that names the attributes holding arrays."""

    __xpbridge_attributes__ = ("weights", "bias", "layers")

    def __init__(self) -> None:
        self.weights = np.ones(3)
        self.bias = np.zeros(1)
        self.layers = [np.arange(2.0), None]
        self.name = "model"  # not named: kept as it is, the very object


class Rebuilt:
    """Says which attributes hold arrays (a method) and how to rebuild itself."""

    def __init__(self, w: Any, calls: list[str]) -> None:
        self.w, self.calls = w, calls

    def __xpbridge_attributes__(self) -> list[str]:
        return ["w"]

    def __xpbridge_rebuild__(self, attributes: dict[str, Any]) -> Rebuilt:
        self.calls.append("rebuild")
        return Rebuilt(attributes["w"], self.calls)


def _snapshot(obj: Any) -> dict[str, Any]:
    """Every attribute: its identity, and the bytes of arrays."""
    return {
        name: (id(value), value.tobytes() if isinstance(value, np.ndarray) else repr(value))
        for name, value in vars(obj).items()
    }


def test_an_object_naming_its_arrays_is_converted_as_a_copy() -> None:
    model = Model()
    before = _snapshot(model)
    out = xb.convert_tree(model, "torch")
    assert type(out) is Model and out is not model
    assert isinstance(out.weights, torch.Tensor) and isinstance(out.layers[0], torch.Tensor)
    assert out.layers[1] is None and out.name is model.name
    assert _snapshot(model) == before  # the source: same objects, same bytes
    plan = xb.plan_tree(model, "torch")
    assert set(plan.plans) == {"tree.weights", "tree.bias", "tree.layers[0]"}


def test_a_rebuild_hook_makes_the_copy() -> None:
    calls: list[str] = []
    source = Rebuilt(np.ones(2), calls)
    out = xb.convert_tree(source, "torch")
    assert calls == ["rebuild"] and isinstance(out.w, torch.Tensor)
    assert isinstance(source.w, np.ndarray)


def test_one_failing_attribute_converts_nothing() -> None:
    model = Model()
    model.bias = np.zeros(1, dtype=np.longdouble)  # torch has no long double
    with pytest.raises(xb.DTypeError, match=r"^tree\.bias: "):
        xb.convert_tree(model, "torch")
    assert isinstance(model.weights, np.ndarray)


def test_a_class_is_a_leaf_not_an_object_to_walk() -> None:
    assert xb.convert_tree({"cls": Model}, "torch")["cls"] is Model


def _fitted() -> tuple[Any, Any, np.ndarray]:
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    logistic = LogisticRegression().fit(x, y)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    return logistic, pipeline, x


@pytest.mark.parametrize("which", ["logistic", "pipeline"])
def test_a_fitted_estimator_goes_to_torch_and_back(which: str) -> None:
    logistic, pipeline, x = _fitted()
    estimator = logistic if which == "logistic" else pipeline
    expected = estimator.predict(x)
    before = _snapshot(estimator)
    inner = _snapshot(estimator.steps[1][1]) if which == "pipeline" else None
    moved = xb.convert_tree(estimator, "torch", copy=True)
    final = moved if which == "logistic" else moved.steps[1][1]
    assert isinstance(final.coef_, torch.Tensor) and isinstance(final.intercept_, torch.Tensor)
    back = xb.convert_tree(moved, "numpy")
    np.testing.assert_array_equal(back.predict(x), expected)
    assert _snapshot(estimator) == before  # the source estimator: untouched
    if inner is not None:
        assert _snapshot(estimator.steps[1][1]) == inner
    paths = xb.plan_tree(estimator, "torch").plans
    wanted = "tree.coef_" if which == "logistic" else "tree.steps[1][1].coef_"
    assert wanted in paths


def test_estimators_in_torch_predict_as_in_numpy_under_array_api_dispatch() -> None:
    pytest.importorskip("sklearn")
    code = textwrap.dedent(
        """
        import numpy as np, torch, sklearn, xpbridge as xb
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        x = np.random.default_rng(1).standard_normal((40, 3))
        y = (x[:, 2] > 0).astype(np.int64)
        for est in (LogisticRegression().fit(x, y),
                    make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)):
            moved = xb.convert_tree(est, "torch")
            with sklearn.config_context(array_api_dispatch=True):
                got = moved.predict(torch.from_numpy(x))
            assert isinstance(got, torch.Tensor), type(got)
            assert (got.numpy() == est.predict(x)).all()
        print("ok")
        """
    )
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}  # read when SciPy is imported
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
