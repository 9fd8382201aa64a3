# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of scripts/build_open_bodies.py: build CC0 SMPL / SMPL-X-layout bodies from MakeHuman (MPFB2) assets.

Modules: ``source`` (fetch and parse the CC0 data), ``macro`` (MakeHuman macro-target weighting and the synthetic
phenotype prior), ``rig`` (MPFB2 rig, SMPL joint mapping, FK, LBS / DQS), ``regressor`` (surface-ring joint regressor),
``correctives`` (pose-corrective regression), ``faces`` (expression PCA, hand PCA, landmarks), ``npzio`` (deterministic npz).
"""
