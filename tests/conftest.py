import os

import pytest
import torch

# Two cores here and in CI: keep torch from oversubscribing them, and never reach for the network.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
os.environ.setdefault("GANALYZE_MEM_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_weights(tmp_path_factory, monkeypatch):
    """Each test sees an empty cache and no user weights folder unless it sets one."""
    monkeypatch.setenv("GANALYZE_MEM_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("GANALYZE_MEM_WEIGHTS", raising=False)
