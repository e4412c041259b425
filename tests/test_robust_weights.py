"""Issue 13 item 4: weights are read by content, so legacy torch checkpoints named *.pth.tar load (weights_only)."""

import collections

import pytest
import torch
from safetensors.torch import save_file

from ganalyze_mem.assessors.machinemem import MachineMemAssessor
from ganalyze_mem.assessors.valence import convert_emonet_state_dict
from ganalyze_mem.errors import WeightsError
from ganalyze_mem.weights import load_state_dict, weights_format


def test_format_is_told_by_content_not_suffix(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    torch.save(state, tmp_path / "legacy.pth.tar", _use_new_zipfile_serialization=False)
    torch.save(state, tmp_path / "zip.pth.tar")
    save_file(state, str(tmp_path / "st.pth.tar"))
    (tmp_path / "junk.safetensors").write_bytes(b"\x01" * 64)
    assert [weights_format(tmp_path / n) for n in ("legacy.pth.tar", "zip.pth.tar", "st.pth.tar", "junk.safetensors")
            ] == ["torch-legacy", "torch-zip", "safetensors", "unknown"]
    for name in ("legacy.pth.tar", "zip.pth.tar", "st.pth.tar"):
        assert torch.equal(load_state_dict(tmp_path / name)["w"], state["w"])
    with pytest.raises(WeightsError, match="neither a safetensors file nor a torch checkpoint"):
        load_state_dict(tmp_path / "junk.safetensors")


def test_official_style_legacy_predictor_loads_and_scores_the_same(tmp_path):
    net = MachineMemAssessor("resnet18", "random", image_size=32, seed=3)
    wrapped = {"state_dict": collections.OrderedDict(("module." + k, v) for k, v in net.model.state_dict().items()),
               "epoch": 7}
    path = tmp_path / "model_best.pth.tar"
    torch.save(wrapped, path, _use_new_zipfile_serialization=False)
    loaded = MachineMemAssessor("resnet18", path, image_size=32)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))


def test_emonet_style_legacy_checkpoint_converts(tmp_path):
    state = {"module.model.conv1.weight": torch.zeros(64, 3, 7, 7),
             "module.model.last_linear.weight": torch.zeros(1, 8),
             "module.model.bn1.running_mean": torch.zeros(64)}
    path = tmp_path / "EmoNet_valence_moments_resnet50_5_best.pth.tar"
    torch.save({"state_dict": state}, path, _use_new_zipfile_serialization=False)
    out = convert_emonet_state_dict(load_state_dict(path))
    assert set(out) == {"conv1.weight", "fc.weight", "bn1.running_mean", "bn1.num_batches_tracked"}


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_legacy_with_code_or_truncated_is_refused(tmp_path):
    evil = tmp_path / "evil.pth.tar"
    torch.save({"w": torch.ones(1), "x": Evil()}, evil, _use_new_zipfile_serialization=False)
    with pytest.raises(WeightsError, match="weights_only"):
        load_state_dict(evil)
    good = tmp_path / "good.pth.tar"
    torch.save({"w": torch.ones(1000)}, good, _use_new_zipfile_serialization=False)
    cut = tmp_path / "cut.pth.tar"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_state_dict(cut)


def test_download_checks_the_hash_and_leaves_a_file_others_can_read(tmp_path):
    """`download_file` through urllib (a file:// URL stands in for the network): the hash is checked, a mismatch
    leaves nothing behind, and the file gets the umask's permissions, not mkstemp's 0600."""
    import hashlib
    import os

    from ganalyze_mem.core.files import current_umask
    from ganalyze_mem.weights import download_file

    src = tmp_path / "remote.bin"
    src.write_bytes(b"weights" * 100)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "cache" / "model.bin"
    with pytest.raises(WeightsError, match="sha256 does not match"):
        download_file(src.as_uri(), dest, "0" * 64)
    assert not dest.exists() and not list(dest.parent.iterdir())
    old = os.umask(0o022)  # a umask that differs from mkstemp's 0600, so the check below can fail
    try:
        download_file(src.as_uri(), dest, digest)
        assert current_umask() == 0o022
    finally:
        os.umask(old)
    assert dest.read_bytes() == src.read_bytes()
    assert os.stat(dest).st_mode & 0o777 == 0o644
