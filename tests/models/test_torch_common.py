"""Shared PyTorch helpers of the networks: devices, seeding, masks, the weights file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from callemo.models.torch_common import (
    TorchModelError,
    conv_out_length,
    count_parameters,
    lengths_to_mask,
    load_state,
    pad_sequences,
    read_state,
    save_state,
    seed_everything,
    select_device,
)

torch.set_num_threads(1)


def test_select_device_cpu_default_and_clear_cuda_error():
    assert select_device(None).type == "cpu"
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(TorchModelError, match="no CUDA"):
            select_device("cuda")
    with pytest.raises(TorchModelError):
        select_device("tpu")


def test_seed_everything_reproducible():
    seed_everything(3)
    a = torch.randn(5)
    g1 = seed_everything(3)
    b = torch.randn(5)
    assert torch.equal(a, b)
    assert g1.integers(0, 1000) == np.random.default_rng(3).integers(0, 1000)


def test_lengths_mask_and_conv_lengths():
    m = lengths_to_mask(torch.tensor([1, 3]), 4)
    assert m.tolist() == [[True, False, False, False], [True, True, True, False]]
    assert conv_out_length(300, 5, 1, 2) == 300
    assert conv_out_length(301, 2, 2) == 150
    assert conv_out_length(torch.tensor([301]), 2, 2).item() == 150
    x, lens = pad_sequences([np.ones((2, 3)), np.ones((4, 3))])
    assert x.shape == (2, 4, 3) and lens.tolist() == [2, 4] and x[0, 2:].sum() == 0


def test_weights_file_round_trip_is_read_with_weights_only(tmp_path):
    seed_everything(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    assert count_parameters(net) == 6 * 16 + 16 + 16 * 2 + 2
    X = torch.randn(4, 6)
    mean = np.arange(3, dtype=np.float32)
    p = save_state(net, tmp_path / "w.pt", note="x", n=3, mean=mean)
    net2 = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    extra = load_state(net2, p)
    assert extra["note"] == "x" and extra["n"] == 3
    np.testing.assert_array_equal(np.asarray(extra["mean"]), mean)  # numpy extras come back as tensors
    assert torch.equal(net(X), net2(X))
    with pytest.raises(TorchModelError, match="not found"):
        load_state(net2, tmp_path / "missing.pt")
    with pytest.raises(TorchModelError, match="do not fit"):
        load_state(nn.Linear(3, 3), p)


class _Payload:
    """An arbitrary object: a weights file holding one is refused (it could run code when unpickled)."""


def test_weights_with_pickled_objects_are_refused(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "obj": _Payload()}, p)
    with pytest.raises(TorchModelError, match="cannot read weights"):
        read_state(p)
