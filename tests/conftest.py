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


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module (use with `pytestmark = pytest.mark.usefixtures("one_thread")`): tiny models
    and the measurer's workers run fastest so; on a shared 2-core machine two threads that spin-wait for each other
    ran many times slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    """One tiny generator per module (building it is the slow part); it is frozen, so sharing is safe."""
    from ganalyze_mem.generators import GENERATORS

    return GENERATORS.create("tiny")
