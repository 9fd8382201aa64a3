# SPDX-License-Identifier: GPL-3.0-or-later
"""Motion files of the SMPL family: readers into :class:`~..motion.Motion` and writers.

Read (:func:`read_motion`, dispatched by content, then extension):
* AMASS ``.npz`` (SMPL+H 156 / SMPL-X 165 / SMPL 72 values per frame, or only the MoSh++ split keys), Z-up;
* Meshcapade-style ``.npz`` (``poses``/``trans``/``betas``, may lack gender and frame rate), Y-up;
* Meshcapade ``.smpl`` (smplcodec: an npz of camelCase keys, enums as int32), Y-up;
* EasyMocap output folders (``<out>/smpl/000000.json`` ...), ``Rh``/``Th`` about the model origin;
* SMPLify-X / AGORA-style ``.pkl`` fits, camera frame (only through the allow-list unpickler);
* single poses (JSON / ``.npz`` / ``.npy`` as the add-on's "write pose" writes them) as 1-frame motions.

Write: :func:`write_amass_npz` and :func:`write_smpl_codec`, atomically.

Every bad input raises :class:`MotionFileError` naming the file and the problem; nothing partial is returned.
Files are never unpickled except through :mod:`..safe_pickle`; ``.npz`` members are read with ``allow_pickle=False``
after their headers were checked (object members such as ``markers_latent_vids`` are skipped).
"""

from .amass import write_amass_npz
from .dispatch import read_motion
from .smpl_codec import write_smpl_codec

__all__ = ["read_motion", "write_amass_npz", "write_smpl_codec"]
