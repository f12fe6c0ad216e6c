"""Shared pytest fixtures."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads():
    """One torch thread per test worker: with ``-n 2`` on 2 cores, more threads oversubscribe
    the CPU and OpenMP spin-waiting makes small-model tests 10-100x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
