# SPDX-License-Identifier: GPL-3.0-or-later
"""A VPoser V02_05 reference in torch, built from torch.nn primitives as the architecture is documented (21 joints,
latent 32, 512 neurons, BatchNorm / LeakyReLU / Dropout, a Normal head whose scale is softplus, the 6-D rotation
decoder), with random weights; and checkpoints of it written by torch.save like human_body_prior's trainer. Used by
tests/core/test_vposer.py (against core.vposer) and tests/blender/test_vposer.py (weights for the operators)."""

import copy

from references import reference_module

torch = reference_module("torch")
nn = torch.nn


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


def reference(seed=0, hidden=512, latent=32, conditioned=True):
    """A reference module in eval mode with random weights and BatchNorm running statistics."""
    torch.manual_seed(seed)
    module = ReferenceVPoser(hidden, latent)
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
