"""Element-wise layers with the same bits per element at any size, on one thread or more."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import skdnn.training.elementwise as elementwise
from skdnn.training.elementwise import GRAIN, VECTOR_GROUP, Elementwise, on_one_thread, shares


@pytest.mark.parametrize("threads", [1, 2, 3, 16])
@pytest.mark.parametrize("size", [1, 100, GRAIN - 1, GRAIN, 3 * GRAIN + 5, 40 * GRAIN + 77])
def test_shares_are_whole_vector_groups_as_torch_cuts_them(size, threads):
    count = shares(size, threads)
    padded = -(-size // (VECTOR_GROUP * count)) * VECTOR_GROUP * count
    used = 1 if padded < GRAIN else min(threads, -(-padded // GRAIN))
    assert count == used  # torch cuts the padded tensor into exactly these shares
    assert (padded // count) % VECTOR_GROUP == 0 and padded - size < VECTOR_GROUP * count


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", [nn.ELU, nn.Tanh, nn.GELU, nn.Sigmoid])
def test_large_tensors_run_on_threads_with_each_elements_bits_its_own(two_threads, kind):
    layer = Elementwise(kind())
    x = torch.randn(5 * GRAIN + 333, generator=torch.Generator().manual_seed(0)) * 3
    everything = layer(x)
    torch.testing.assert_close(everything, on_one_thread(kind(), x), rtol=1e-6, atol=1e-6)
    for start, stop in ((0, 5), (1, 2 * GRAIN + 1), (70, 5 * GRAIN + 333), (3, GRAIN)):
        torch.testing.assert_close(layer(x[start:stop]), everything[start:stop], rtol=0, atol=0)
    rows = x[: 4 * GRAIN].view(-1, 128)
    torch.testing.assert_close(layer(rows[:, :100]), everything[: 4 * GRAIN].view(-1, 128)[:, :100],
                               rtol=0, atol=0)  # not contiguous


def test_threads_run_an_aligned_tensor_without_copying_it(two_threads, monkeypatch):
    calls = []
    layer = nn.ELU()
    def forward(x):
        calls.append((x.data_ptr(), torch.get_num_threads()))
        return x

    monkeypatch.setattr(layer, "forward", forward)
    x = torch.randn(4 * GRAIN)
    Elementwise(layer)(x)
    Elementwise(layer)(x[:100])
    assert calls == [(x.data_ptr(), 2), (calls[1][0], 1)]  # threads for the large one only


def test_a_machine_whose_threads_disagree_runs_on_one_thread(two_threads, monkeypatch):
    monkeypatch.setattr(elementwise, "threads_agree", lambda *args: False)
    seen = []
    layer = nn.Tanh()
    monkeypatch.setattr(layer, "forward", lambda x: seen.append(torch.get_num_threads()) or x)
    Elementwise(layer)(torch.randn(4 * GRAIN))
    assert seen == [1]


class _CountsThreads(nn.Module):
    def forward(self, x):
        return x * torch.get_num_threads()


class _Fails(nn.Module):
    def forward(self, x):
        raise RuntimeError("no kernel")


def test_the_self_check_compares_threads_with_one_thread():
    assert elementwise.threads_agree(nn.Identity, torch.float32, 2)
    assert not elementwise.threads_agree(_CountsThreads, torch.float32, 2)
    assert not elementwise.threads_agree(_Fails, torch.float32, 2)
