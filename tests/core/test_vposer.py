# SPDX-License-Identifier: GPL-3.0-or-later
"""core.vposer and core.torch_checkpoint against a PyTorch reference of VPoser V02_05 built here from its documented
architecture (random weights, non-trivial BatchNorm statistics; no real VPoser weights are used or stored): encode,
decode, sample, interpolate and prior agree to 1e-5; checkpoints in every accepted layout load; hostile and broken
checkpoints are refused naming the file, with nothing executed. SMPLify-X fits with a latent body pose decode
through ``vposer=``."""

import io
import json
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest
from core.random_model import random_arrays
from references import reference_module
from vposer_reference import (
    _unicode,
    lightning_checkpoint,
    random_state,
    reference,
    tensor_opcodes,
    write_checkpoint,
    write_zip,
)

from smpl_blender_addon import core
from smpl_blender_addon.core import file_io, rotations
from smpl_blender_addon.core.errors import MotionFileError, WeightsFileError
from smpl_blender_addon.core.formats.pose_files import read_pose_file
from smpl_blender_addon.core.torch_checkpoint import InertObject, load_checkpoint
from smpl_blender_addon.core.vposer import VPoser

torch = reference_module("torch")
nn = torch.nn
TOL = 1e-5


@pytest.fixture(scope="module")
def ref():
    return reference()


@pytest.fixture(scope="module")
def ckpt(ref, tmp_path_factory):
    path = tmp_path_factory.mktemp("vposer") / "V02_05_epoch=08_val_loss=0.03.ckpt"
    torch.save(lightning_checkpoint(reference()), path)
    return path


@pytest.fixture(scope="module")
def vposer(ckpt):
    return VPoser.load(ckpt)


def poses(n, seed=1):
    return np.random.default_rng(seed).normal(0, 0.4, (n, 63)).astype(np.float32)


def assert_close(got, want, tol=TOL):
    want = want.detach().numpy() if hasattr(want, "detach") else want
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= tol, np.abs(got - want).max()


# --------------------------------------------------------------------------------------------------------------------
# Against the reference.


def test_encode_matches_torch(vposer, ref):
    x = poses(200)
    mean, scale = vposer.encode(x)
    with torch.no_grad():
        posterior = ref.encode(torch.from_numpy(x))
    assert mean.dtype == np.float32 and mean.shape == (200, 32)
    assert_close(mean, posterior.mean)
    assert_close(scale, posterior.stddev)
    one_mean, one_scale = vposer.encode(x[0])
    assert one_mean.shape == (1, 32)
    assert_close(one_mean[0], mean[0])
    assert_close(vposer.prior(x), 0.5 * (posterior.mean.numpy().astype(np.float64) ** 2).sum(1))


def test_decode_matches_torch(vposer, ref):
    z = np.random.default_rng(2).normal(0, 1.5, (300, 32)).astype(np.float32)
    with torch.no_grad():
        want = ref.decode(torch.from_numpy(z))["pose_body_matrot"].numpy().reshape(300, 21, 3, 3)
    matrices = vposer.decode_matrices(z)
    assert matrices.shape == (300, 21, 3, 3) and matrices.dtype == np.float32
    assert_close(matrices, want)
    pose = vposer.decode(z)
    assert pose.shape == (300, 63)
    rotvecs = pose.reshape(300, 21, 3).astype(np.float64)
    assert np.linalg.norm(rotvecs, axis=-1).max() <= np.pi + 1e-6  # canonical
    assert_close(rotations.axis_angle_to_matrix(rotvecs), want)  # the same rotations
    assert_close(vposer.decode(z[0]), pose[:1])


def test_sample_is_seeded_and_matches_torch(vposer, ref):
    a, b, c = vposer.sample(50, seed=7), vposer.sample(50, seed=7), vposer.sample(50, seed=8)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    z = np.random.RandomState(7).standard_normal((50, 32)).astype(np.float32)
    with torch.no_grad():
        want = ref.decode(torch.from_numpy(z))["pose_body_matrot"].numpy().reshape(50, 21, 3, 3)
    assert_close(rotations.axis_angle_to_matrix(a.reshape(50, 21, 3).astype(np.float64)), want)
    assert vposer.sample(3, seed=np.random.default_rng(0)).shape == (3, 63)


def test_interpolate_matches_torch(vposer, ref):
    x = poses(2, seed=3)
    weights = np.linspace(0, 1, 7)
    got = vposer.interpolate(x[0], x[1], weights)
    with torch.no_grad():
        means = ref.encode(torch.from_numpy(x)).mean
        w = torch.from_numpy(weights.astype(np.float32))[:, None]
        want = ref.decode((1 - w) * means[0] + w * means[1])["pose_body_matrot"].numpy().reshape(7, 21, 3, 3)
    assert got.shape == (7, 63)
    assert_close(rotations.axis_angle_to_matrix(got.reshape(7, 21, 3).astype(np.float64)), want)
    np.testing.assert_allclose(got[0], vposer.decode(vposer.encode(x[0])[0])[0], atol=1e-6)


def test_inbetweens_end_exactly_at_the_two_poses(vposer):
    a, b = poses(2, seed=5)
    w = np.array([0.0, 0.25, 0.5, 1.0])
    got = vposer.inbetweens(a, b, w)
    np.testing.assert_allclose(
        rotations.axis_angle_to_matrix(got[0].reshape(21, 3)),
        rotations.axis_angle_to_matrix(a.reshape(21, 3).astype(np.float64)),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        rotations.axis_angle_to_matrix(got[3].reshape(21, 3)),
        rotations.axis_angle_to_matrix(b.reshape(21, 3).astype(np.float64)),
        atol=1e-5,
    )
    # in between: the decoded line, off by a blend of the two ends' reconstruction residuals (nonzero here)
    line = rotations.axis_angle_to_matrix(vposer.interpolate(a, b, w).reshape(4, 21, 3).astype(np.float64))
    mid = rotations.axis_angle_to_matrix(got.reshape(4, 21, 3))
    assert np.abs(line[0] - rotations.axis_angle_to_matrix(a.reshape(21, 3).astype(np.float64))).max() > 1e-2
    residual_a = np.swapaxes(line[0], -1, -2) @ rotations.axis_angle_to_matrix(a.reshape(21, 3).astype(np.float64))
    residual_b = np.swapaxes(line[3], -1, -2) @ rotations.axis_angle_to_matrix(b.reshape(21, 3).astype(np.float64))
    # half-way, the correction R_mid^T... is the rotation half-way between the residuals: its square maps a to b
    half = np.swapaxes(line[2], -1, -2) @ mid[2]
    step = np.swapaxes(residual_a, -1, -2) @ half
    np.testing.assert_allclose(step @ step, np.swapaxes(residual_a, -1, -2) @ residual_b, atol=1e-4)


def test_the_hand_written_checkpoint_is_what_torch_reads(tmp_path):
    state = random_state(seed=4)
    path = write_checkpoint(tmp_path / "numpy.ckpt", state)
    read = torch.load(path, weights_only=True)["state_dict"]
    assert sorted(read) == sorted("vp_model." + k for k in state)
    for key, value in state.items():
        np.testing.assert_array_equal(read["vp_model." + key].numpy(), value)
    np.testing.assert_array_equal(VPoser.load(path).decode_matrices(np.zeros((1, 32), np.float32)).shape, (1, 21, 3, 3))


def test_float64_and_other_sizes(tmp_path):
    module = reference(seed=4, hidden=64, latent=16, conditioned=False).double()
    path = tmp_path / "small.pt"
    torch.save(module.state_dict(), path)  # a plain state dict, no prefix
    vp = VPoser.load(path, dtype=np.float64)
    assert (vp.latent_dim, vp.hidden, vp.num_joints) == (16, 64, 21)
    x = poses(20).astype(np.float64)
    with torch.no_grad():
        posterior = module.encode(torch.from_numpy(x))
        z = posterior.mean
        want = module.decode(z)["pose_body_matrot"].numpy().reshape(20, 21, 3, 3)
    mean, scale = vp.encode(x)
    assert mean.dtype == np.float64
    assert_close(mean, posterior.mean, 1e-10)
    assert_close(scale, posterior.stddev, 1e-10)
    assert_close(vp.decode_matrices(z.numpy()), want, 1e-10)
    rotvecs = vp.decode(z.numpy()).reshape(20, 21, 3)
    assert np.linalg.norm(rotvecs, axis=-1).max() > 2.5  # large angles too
    assert_close(rotations.axis_angle_to_matrix(rotvecs), want, 1e-9)


def test_plain_state_dict_and_experiment_folder(tmp_path, ref, vposer):
    plain = tmp_path / "vposer.pt"
    torch.save(reference().state_dict(), plain)
    z = np.random.default_rng(5).normal(0, 1, (10, 32))
    np.testing.assert_array_equal(VPoser.load(plain).decode_matrices(z), vposer.decode_matrices(z))
    snapshots = tmp_path / "V02_05" / "snapshots"
    snapshots.mkdir(parents=True)
    (tmp_path / "V02_05" / "V02_05.yaml").write_text("model_params: {latentD: 32}\n")
    torch.save(lightning_checkpoint(reference(seed=9)), snapshots / "V02_05_epoch=9_val_loss=0.05.ckpt")
    torch.save(lightning_checkpoint(reference()), snapshots / "V02_05_epoch=10_val_loss=0.03.ckpt")
    folder = VPoser.load(tmp_path / "V02_05")
    assert folder.source.endswith("epoch=10_val_loss=0.03.ckpt")  # the newest, digit runs compared as numbers
    np.testing.assert_array_equal(folder.decode_matrices(z), vposer.decode_matrices(z))
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsFileError, match="no VPoser checkpoint") as err:
        VPoser.load(tmp_path / "empty")
    assert "empty" in str(err.value)


def test_lightning_objects_are_inert(tmp_path, ref):
    """Callbacks keyed by their class, an AttributeDict of hyper-parameters, an omegaconf config: placeholders."""
    names = ("pytorch_lightning", "pytorch_lightning.callbacks", "omegaconf")
    fake = {name: types.ModuleType(name) for name in names}

    class ModelCheckpoint:
        def __init__(self):
            self.best_model_score = torch.tensor(0.03)

    class AttributeDict(dict):
        pass

    class DictConfig:
        def __reduce__(self):
            return (DictConfig, (), {"_content": {"a": 1}, "_metadata": None})

    for cls, module in ((ModelCheckpoint, "pytorch_lightning.callbacks"), (AttributeDict, "pytorch_lightning")):
        cls.__module__, cls.__qualname__ = module, cls.__name__
        setattr(fake[module], cls.__name__, cls)
    DictConfig.__module__, DictConfig.__qualname__ = "omegaconf", "DictConfig"
    fake["omegaconf"].DictConfig = DictConfig
    data = lightning_checkpoint(reference())
    data["callbacks"] = {ModelCheckpoint: {"best_model_score": torch.tensor(0.03), "dirpath": "/x"}}
    data["hyper_parameters"] = AttributeDict(latentD=32, cfg=DictConfig())
    data["hparams_type"] = AttributeDict
    path = tmp_path / "lightning.ckpt"
    saved = dict(sys.modules)
    sys.modules.update(fake)
    try:
        torch.save(data, path)
    finally:
        for name in names:
            if saved.get(name) is None:
                sys.modules.pop(name, None)
    raw = load_checkpoint(path)
    assert raw["epoch"] == 1 and raw["pytorch-lightning_version"] == "1.2.0"
    assert isinstance(raw["hyper_parameters"], InertObject)
    (key,) = raw["callbacks"]
    assert issubclass(key, InertObject) and key.global_name == "pytorch_lightning.callbacks.ModelCheckpoint"
    assert raw["optimizer_states"][0]["state"][2]["exp_avg"].shape == (512, 63)
    z = np.zeros((1, 32))
    np.testing.assert_array_equal(VPoser.load(path).decode_matrices(z), VPoser.load(path).decode_matrices(z))


# --------------------------------------------------------------------------------------------------------------------
# Hostile and broken checkpoints: refused naming the file, nothing executed.


def tensor_pickle(key, numel, size, stride, offset=0, storage="FloatStorage"):
    """data.pkl of ``{'w': tensor}``, written by hand."""
    return b"\x80\x02}" + _unicode("w") + tensor_opcodes(key, numel, size, stride, offset, storage) + b"s."


def refused(path, *needles, load=load_checkpoint):
    with pytest.raises(WeightsFileError) as info:
        load(path)
    message = str(info.value)
    assert os.path.basename(str(path)) in message, message
    for needle in needles:
        assert needle in message, message
    assert isinstance(info.value, ValueError)
    return message


def test_hand_written_checkpoint_reads(tmp_path):
    """The hand-written form used below is what torch writes: a valid one loads, with the stride applied."""
    data = np.arange(12, dtype="<f4").tobytes()
    path = write_zip(tmp_path / "ok.pt", {"data.pkl": tensor_pickle("0", 12, (3, 2), (1, 3)), "data/0": data})
    np.testing.assert_array_equal(load_checkpoint(path)["w"], np.arange(12, dtype=np.float32)[:6].reshape(2, 3).T)


def test_code_execution_is_refused(tmp_path):
    marker = tmp_path / "marker"
    for module, name, arg in (
        ("os", "system", f"touch {marker}"),
        ("builtins", "eval", f"open({str(marker)!r}, 'w')"),
        ("subprocess", "getoutput", f"touch {marker}"),
        ("torch", "load", str(marker)),
        ("torch._utils", "_rebuild_device_tensor_from_numpy", "x"),
    ):
        stream = b"\x80\x02c" + f"{module}\n{name}\n".encode() + _unicode(arg) + b"\x85R."
        path = write_zip(tmp_path / f"{name}.ckpt", {"data.pkl": stream})
        refused(path, f"{module}.{name}", "not allowed")
        refused(path, load=VPoser.load)
    assert not marker.exists()
    stream = pickle.dumps({"w": 1}, protocol=2)[:-2] + b"cposix\nsystem\n" + _unicode(f"touch {marker}") + b"\x85Rs."
    refused(write_zip(tmp_path / "nested.ckpt", {"data.pkl": stream}), "posix.system")
    assert not marker.exists()


def test_broken_storages_are_refused(tmp_path):
    floats = np.zeros(12, "<f4").tobytes()
    refused(write_zip(tmp_path / "missing.pt", {"data.pkl": tensor_pickle("7", 12, (3, 4), (4, 1))}), "'7'", "no ")
    small = write_zip(tmp_path / "small.pt", {"data.pkl": tensor_pickle("0", 12, (4, 4), (4, 1)), "data/0": floats})
    refused(small, "needs 16 storage elements", "holds 12")
    offset = write_zip(
        tmp_path / "offset.pt", {"data.pkl": tensor_pickle("0", 12, (3, 4), (4, 1), offset=1), "data/0": floats}
    )
    refused(offset, "needs 13")
    short = write_zip(tmp_path / "short.pt", {"data.pkl": tensor_pickle("0", 12, (3, 4), (4, 1)), "data/0": b"\0" * 40})
    refused(short, "truncated")
    huge = write_zip(tmp_path / "huge.pt", {"data.pkl": tensor_pickle("0", 10**12, (10**12,), (1,)), "data/0": floats})
    refused(huge, "byte limit")
    view = write_zip(
        tmp_path / "view.pt", {"data.pkl": tensor_pickle("0", 3, (10**6, 10**6), (0, 0)), "data/0": floats}
    )
    refused(view, "byte limit")
    negative = write_zip(tmp_path / "negative.pt", {"data.pkl": tensor_pickle("0", 12, (3,), (-4,)), "data/0": floats})
    refused(negative, "stride")
    quantized = write_zip(
        tmp_path / "q.pt", {"data.pkl": tensor_pickle("0", 12, (3,), (1,), storage="QInt8Storage"), "data/0": floats}
    )
    refused(quantized, "torch.QInt8Storage")


def test_broken_archives_are_refused(tmp_path, ckpt, monkeypatch):
    data = ckpt.read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    refused(truncated, "truncated")
    refused(tmp_path / "absent.ckpt", "cannot read")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    refused(tmp_path / "empty.ckpt", "empty")
    (tmp_path / "text.ckpt").write_text("hello")
    refused(tmp_path / "text.ckpt", "not a PyTorch checkpoint")
    legacy = tmp_path / "legacy.pt"
    torch.save(reference().state_dict(), legacy, _use_new_zipfile_serialization=False)
    refused(legacy, "legacy", "torch.save(")
    refused(legacy, "legacy", load=VPoser.load)
    refused(write_zip(tmp_path / "nopkl.pt", {"data/0": b"0000"}), "data.pkl")
    refused(write_zip(tmp_path / "list.pt", {"data.pkl": pickle.dumps([1, 2], protocol=2)}), "expected a dict")
    cut = pickle.dumps({"a": [1, 2, 3]}, protocol=2)[:-4]
    refused(write_zip(tmp_path / "cut.pt", {"data.pkl": cut}), "truncated")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
        archive.writestr("archive/data/0", b"\0" * (8 * 1024**2))  # 8 MiB in about 8 kB
    (tmp_path / "bomb.pt").write_bytes(bomb.getvalue())
    monkeypatch.setattr(file_io, "MAX_ARCHIVE_BYTES", 4 * 1024**2)
    refused(tmp_path / "bomb.pt", "expands to")


def test_wrong_weights_are_refused(tmp_path):
    state = reference(hidden=64, latent=16).state_dict()
    bad = dict(state, **{"decoder_net.5.weight": torch.zeros(120, 64), "decoder_net.5.bias": torch.zeros(120)})
    torch.save(bad, tmp_path / "shape.pt")
    refused(tmp_path / "shape.pt", "decoder_net.5.weight", "(126, 64)", load=VPoser.load)
    torch.save({k: v for k, v in state.items() if "mu" not in k}, tmp_path / "missing.pt")
    refused(tmp_path / "missing.pt", "encoder_net.8.mu.weight", load=VPoser.load)
    torch.save({"bodyprior_enc_fc1.weight": torch.zeros(3)}, tmp_path / "v1.pt")
    refused(tmp_path / "v1.pt", "v1", load=VPoser.load)
    nan = dict(state, **{"encoder_net.7.bias": torch.full((64,), float("nan"))})
    torch.save(nan, tmp_path / "nan.pt")
    refused(tmp_path / "nan.pt", "NaN", load=VPoser.load)


def test_shapes_are_checked(vposer):
    with pytest.raises(ValueError, match=r"\(N, 63\)"):
        vposer.encode(np.zeros((2, 62)))
    with pytest.raises(ValueError, match=r"\(N, 32\)"):
        vposer.decode(np.zeros(31))


# --------------------------------------------------------------------------------------------------------------------
# SMPLify-X fits with a VPoser latent body pose.


@pytest.fixture(scope="module")
def model():
    return core.BodyModel.from_arrays(random_arrays("smplx", 200, seed=3), name="random-smplx")


def write_fit(path, latent):
    rng = np.random.default_rng(6)
    fit = {
        "betas": rng.normal(0, 1, (1, 10)),
        "global_orient": rng.normal(0, 0.5, (1, 3)),
        "body_pose": latent,
        "left_hand_pose": rng.normal(0, 0.3, (1, 45)),
        "right_hand_pose": rng.normal(0, 0.3, (1, 45)),
        "camera_rotation": np.eye(3)[None],
        "camera_translation": np.zeros((1, 3)),
    }
    with open(path, "wb") as stream:
        pickle.dump({k: np.asarray(v, np.float32) for k, v in fit.items()}, stream, protocol=2)  # as SMPLify-X
    return path


def test_smplify_latent_body_pose_decodes(tmp_path, vposer, ckpt, model):
    latent = np.random.default_rng(8).normal(0, 1, (1, 32)).astype(np.float32)
    fit = write_fit(tmp_path / "000.pkl", latent)
    body = vposer.decode(latent)[0]
    motion = core.read_motion(fit, model=model, vposer=vposer)
    np.testing.assert_allclose(motion.poses[0, 3:66], body, atol=TOL)
    by_path = core.read_motion(fit, model=model, vposer=ckpt, up_axis="Y")
    np.testing.assert_allclose(by_path.poses[0, 3:66], body, atol=TOL)
    np.testing.assert_allclose(read_pose_file(fit, model, vposer=vposer)["pose"][3:66], body, atol=TOL)
    for read in (lambda: core.read_motion(fit, model=model), lambda: read_pose_file(fit, model)):
        with pytest.raises(MotionFileError, match="VPoser latent") as err:
            read()
        assert err.value.needs == "vposer" and "000.pkl" in str(err.value) and "pass vposer=" in str(err.value)
    assert "--vposer" in err.value.describe({"vposer": "pass --vposer PATH"})
    split = tmp_path / "pose.json"
    split.write_text(json.dumps({"global_orient": [0.1, 0.2, 0.3], "body_pose": latent[0].tolist()}))
    np.testing.assert_allclose(core.read_motion(split, model=model, vposer=vposer).poses[0, 3:66], body, atol=TOL)
    small = VPoser.from_state_dict(
        {k: v.numpy() for k, v in reference(hidden=16, latent=8).state_dict().items()}, dtype=np.float64
    )
    with pytest.raises(MotionFileError, match="latent codes have 8"):
        core.read_motion(fit, model=model, vposer=small)
