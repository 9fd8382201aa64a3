# SPDX-License-Identifier: GPL-3.0-or-later
"""VPoser V02_05 weights for the tests.

- Without PyTorch: :func:`random_state` (random weights with the V02_05 keys and shapes) written as a torch zip
  checkpoint byte by byte (:func:`write_checkpoint`: ``data.pkl`` with ``_rebuild_tensor_v2`` on persistent storages),
  so the Blender tests run in a Blender whose Python has no torch.
- With PyTorch: a reference network built from torch.nn primitives as the architecture is documented (21 joints,
  latent 32, 512 neurons, BatchNorm / LeakyReLU / Dropout, a Normal head whose scale is softplus, the 6-D rotation
  decoder) and checkpoints of it written by torch.save like human_body_prior's trainer (tests/core/test_vposer.py
  compares core.vposer with it).
"""

import copy
import struct
import zipfile

import numpy as np
from references import reference_module

torch = None
nn = None


def _torch():
    global torch, nn
    if torch is None:
        torch = reference_module("torch")
        nn = torch.nn
    return torch


# --------------------------------------------------------------------------------------------------------------------
# Without torch.

LAYERS = {  # V02_05 state-dict prefix -> (rows, columns) of a Linear, or (features,) of a BatchNorm1d
    "encoder_net.1": (63,),
    "encoder_net.2": (512, 63),
    "encoder_net.4": (512,),
    "encoder_net.6": (512, 512),
    "encoder_net.7": (512, 512),
    "encoder_net.8.mu": (32, 512),
    "encoder_net.8.logvar": (32, 512),
    "decoder_net.0": (512, 32),
    "decoder_net.3": (512, 512),
    "decoder_net.5": (126, 512),
}


def random_state(seed=0):
    """``{key: float32 array}`` with the V02_05 keys and shapes; the last decoder bias near the identity's 6-D form."""
    rng = np.random.default_rng(seed)
    state = {}
    for prefix, shape in LAYERS.items():
        if len(shape) == 1:
            n = shape[0]
            state[prefix + ".weight"] = 1 + 0.3 * rng.standard_normal(n)
            state[prefix + ".bias"] = 0.2 * rng.standard_normal(n)
            state[prefix + ".running_mean"] = 0.5 * rng.standard_normal(n)
            state[prefix + ".running_var"] = rng.random(n) * 2 + 0.1
        else:
            state[prefix + ".weight"] = rng.uniform(-1, 1, shape) / np.sqrt(shape[1])
            state[prefix + ".bias"] = rng.uniform(-1, 1, shape[0]) / np.sqrt(shape[1])
    state["decoder_net.5.bias"] = np.tile([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], 21) + 0.05 * rng.standard_normal(126)
    return {k: np.asarray(v, dtype=np.float32) for k, v in state.items()}


def _unicode(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    return b"\x8a" + bytes([8]) + struct.pack("<q", value)  # LONG1, 8 bytes


def _tuple(items):
    return b"(" + b"".join(items) + b"t"


def tensor_opcodes(key, numel, size, stride, offset=0, storage="FloatStorage"):
    """Pickle opcodes of a tensor: ``_rebuild_tensor_v2`` on the persistent storage ``key`` (as torch.save writes)."""
    pid = _tuple([_unicode("storage"), b"ctorch\n" + storage.encode() + b"\n", _unicode(key), _unicode("cpu")])
    pid = pid[:-1] + _int(numel) + b"t"
    args = _tuple(
        [
            pid + b"Q",
            _int(offset),
            _tuple([_int(n) for n in size]),
            _tuple([_int(n) for n in stride]),
            b"\x89",
            b"ccollections\nOrderedDict\n)R",
        ]
    )
    return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"


def write_zip(path, members, prefix="archive/"):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(prefix + name, data)
    return path


def write_checkpoint(path, state, prefix="vp_model."):
    """A Lightning-style ``{'epoch': 1, 'state_dict': {prefix + key: tensor}}`` torch zip checkpoint, without torch."""
    items, storages = b"", {}
    for i, (key, value) in enumerate(state.items()):
        value = np.ascontiguousarray(value, dtype="<f4")
        strides = [int(np.prod(value.shape[d + 1 :])) for d in range(value.ndim)]
        items += _unicode(prefix + key) + tensor_opcodes(str(i), value.size, value.shape, strides)
        storages[f"data/{i}"] = value.tobytes()
    data = b"\x80\x02}(" + _unicode("epoch") + _int(1) + _unicode("state_dict") + b"}(" + items + b"uu."
    return write_zip(path, {"data.pkl": data, "version": b"3\n", **storages})


# --------------------------------------------------------------------------------------------------------------------
# With torch: the reference network.


def _classes():
    """The reference's torch.nn modules (defined once torch is imported)."""
    _torch()

    class BatchFlatten(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], -1)

    class NormalHeads(nn.Module):
        def __init__(self, hidden, latent):
            super().__init__()
            self.mu = nn.Linear(hidden, latent)
            self.logvar = nn.Linear(hidden, latent)

        def forward(self, x):
            return torch.distributions.Normal(self.mu(x), nn.functional.softplus(self.logvar(x)))

    class SixDToMatrix(nn.Module):
        def forward(self, x):
            cols = x.reshape(-1, 3, 2)
            b1 = nn.functional.normalize(cols[:, :, 0], dim=1)
            b2 = cols[:, :, 1] - (b1 * cols[:, :, 1]).sum(dim=1, keepdim=True) * b1
            b2 = nn.functional.normalize(b2, dim=1)
            return torch.stack([b1, b2, torch.cross(b1, b2, dim=1)], dim=-1)

    class ReferenceVPoser(nn.Module):
        def __init__(self, hidden=512, latent=32):
            super().__init__()
            self.latent = latent
            self.encoder_net = nn.Sequential(
                BatchFlatten(),
                nn.BatchNorm1d(63),
                nn.Linear(63, hidden),
                nn.LeakyReLU(),
                nn.BatchNorm1d(hidden),
                nn.Dropout(0.1),
                nn.Linear(hidden, hidden),
                nn.Linear(hidden, hidden),
                NormalHeads(hidden, latent),
            )
            self.decoder_net = nn.Sequential(
                nn.Linear(latent, hidden),
                nn.LeakyReLU(),
                nn.Dropout(0.1),
                nn.Linear(hidden, hidden),
                nn.LeakyReLU(),
                nn.Linear(hidden, 126),
                SixDToMatrix(),
            )

        def encode(self, pose_body):
            return self.encoder_net(pose_body)

        def decode(self, z):
            matrices = self.decoder_net(z).reshape(z.shape[0], 21, 3, 3)
            return {"pose_body_matrot": matrices.reshape(z.shape[0], 21, 9)}

    return ReferenceVPoser


def reference(seed=0, hidden=512, latent=32, conditioned=True):
    """A reference module in eval mode with random weights and BatchNorm running statistics."""
    module_class = _classes()
    torch.manual_seed(seed)
    module = module_class(hidden, latent)
    with torch.no_grad():
        for bn in (module.encoder_net[1], module.encoder_net[4]):
            n = bn.num_features
            bn.weight.copy_(1 + 0.3 * torch.randn(n))
            bn.bias.copy_(0.2 * torch.randn(n))
            bn.running_mean.copy_(0.5 * torch.randn(n))
            bn.running_var.copy_(torch.rand(n) * 2 + 0.1)
            bn.num_batches_tracked.fill_(1234)
        if conditioned:
            # With default initialisation some 6-D outputs have nearly parallel columns, where the Gram-Schmidt
            # amplifies float32 rounding: torch's own float32 result is then 3e-5 from its float64 one. Columns
            # near (e1, e2) plus the random part (joint angles 0.2 rad on average, up to 0.9) keep a float32
            # comparison about the network; the float64 test uses the unconditioned outputs (angles up to pi).
            module.decoder_net[5].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(21))
    return module.eval()


def lightning_checkpoint(module):
    """A dict shaped like a PyTorch Lightning .ckpt of human_body_prior's trainer (``module``'s weights; the
    optimizer state of a training step on a copy)."""
    trained = copy.deepcopy(module).train()
    optimizer = torch.optim.Adam(trained.parameters(), lr=1e-3)
    loss = trained.decoder_net(torch.randn(4, module.latent)).sum() + trained.encode(torch.randn(4, 63)).mean.sum()
    loss.backward()
    optimizer.step()
    state = {"vp_model." + key: value for key, value in module.state_dict().items()}
    state["body_model.v_template"] = torch.zeros(10, 3)  # other buffers of the Lightning module: ignored
    return {
        "epoch": 1,
        "global_step": 1234,
        "pytorch-lightning_version": "1.2.0",
        "state_dict": state,
        "hyper_parameters": {"latentD": module.latent, "lr": 1e-3, "name": "V02_05"},
        "optimizer_states": [optimizer.state_dict()],
        "lr_schedulers": [{"patience": 5, "factor": 0.1, "best": 0.25}],
    }


def save_checkpoint(path, seed=0):
    """Write a Lightning-style checkpoint of a random reference to ``path``; returns the reference module."""
    module = reference(seed)
    torch.save(lightning_checkpoint(module), path)
    return module
