"""Samples at the defaults are bit-identical to the stored reference (``tests/data/default_samples.npz``, written
by ``tests/reference_samples.py``): the sampler's refactors must not move an atom. On another torch build, or
where ``precision="auto"`` resolves otherwise, the test skips and says why (bit-identity is per machine)."""

from __future__ import annotations

import numpy as np
import pytest

from reference_samples import PATH, RUNS, environment, make


@pytest.fixture(scope="module")
def reference():
    if not PATH.is_file():
        pytest.skip(f"no reference at {PATH}")
    data = np.load(PATH)
    if str(data["environment"]) != environment():
        pytest.skip(f"reference made with {data['environment']}, this is {environment()}")
    return data


@pytest.fixture(scope="module")
def model():
    from unite_mol import load_model

    return load_model()


@pytest.mark.parametrize("name", list(RUNS))
def test_samples_at_the_defaults_are_bit_identical(name, reference, model):
    got = make(name, model)
    if str(got["precision"]) != str(reference[f"{name}/precision"]):
        pytest.skip(f"precision='auto' is {got['precision']} here, {reference[f'{name}/precision']} in the reference")
    for key in ("numbers", "atoms", "bonds", "nbonds", "positions"):
        assert np.array_equal(got[key], reference[f"{name}/{key}"]), f"{name}: {key} differ from the reference"
