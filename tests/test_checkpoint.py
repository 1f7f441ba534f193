"""mmac.checkpoint: a file that is not an mmengine checkpoint is one ValueError naming it and what it holds."""
import collections
import pickle

import numpy as np
import pytest
import torch

from mmac.checkpoint import load_local_checkpoint


class Foreign:
    """A class no checkpoint holds."""


def bad_checkpoint(folder, kind: str):
    """Write a bad ``.pth`` of one ``kind`` into ``folder``; return its path and the words the error must use."""
    path = folder / f"{kind}.pth"
    if kind == "truncated":  # a copy cut short
        torch.save({"state_dict": {"w": torch.ones(64)}, "meta": {}}, path)
        path.write_bytes(path.read_bytes()[:300])
        return path, "damaged or truncated torch archive"
    if kind == "random":
        # Seeded: unseeded bytes start with pickle's PROTO opcode (0x80) about once in 256 runs, and are then
        # rightly named a damaged pickle, which made this case flaky.
        data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
        assert data[0] != 0x80
        path.write_bytes(data)
        return path, "4096 bytes that are not a torch checkpoint"
    if kind == "pickle":  # a plain pickle of a non-dict object
        path.write_bytes(pickle.dumps(collections.Counter(a=1)))
        return path, "a Python pickle of"
    if kind == "list":  # torch.save of something that is not a checkpoint
        torch.save([1, 2, 3], path)
        return path, "holds a list, not a checkpoint"
    if kind == "foreign":  # unpickling it would run Foreign's code
        torch.save(Foreign(), path)
        return path, f"it pickles a {Foreign.__module__}.Foreign object"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "the file is empty"
    raise ValueError(kind)


KINDS = ("truncated", "random", "pickle", "list", "foreign", "empty")


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_file_is_one_value_error_naming_it(tmp_path, kind, recwarn):
    path, found = bad_checkpoint(tmp_path, kind)
    with pytest.raises(ValueError) as exc:
        load_local_checkpoint(str(path))
    message = str(exc.value)
    assert message.startswith(f"checkpoint {path} ") and found in message, message
    assert "\n" not in message and "weights_only=False" not in message
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]


def test_a_checkpoint_and_a_plain_state_dict_load(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(2)}, "meta": {"iter": 3}}, tmp_path / "run.pth")
    assert load_local_checkpoint(str(tmp_path / "run.pth"))["meta"] == {"iter": 3}
    torch.save(collections.OrderedDict(w=torch.ones(2)), tmp_path / "weights.pth")
    assert list(load_local_checkpoint(str(tmp_path / "weights.pth"))) == ["w"]
    with pytest.raises(FileNotFoundError, match="missing.pth can not be found"):
        load_local_checkpoint(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("kind", ["truncated", "random", "pickle"])
def test_init_translator_refuses_a_bad_checkpoint(tiny_model, tmp_path, kind):
    from mmac.apis import init_translator

    path, found = bad_checkpoint(tmp_path, kind)
    with pytest.raises(ValueError, match=f"checkpoint {path} .*{found}"):
        init_translator(tiny_model.config, path)
