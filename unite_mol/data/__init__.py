"""Data: QM9 offline, batching for models, the processed-data cache.

Also :mod:`unite_mol.data.druglike` (an offline drug-like 3D set) and :mod:`unite_mol.data.geom` (GEOM-drugs loaders).
"""

from unite_mol.data.batching import (BucketBatchSampler, MolBatch, canonical_frame, collate, collate_arrays,
                                    masked_center, random_rotation, random_rotations, rotate)
from unite_mol.data.qm9 import QM9Split, qm9

__all__ = ["qm9", "QM9Split", "MolBatch", "collate", "collate_arrays", "masked_center", "canonical_frame",
           "random_rotation", "random_rotations", "rotate", "BucketBatchSampler"]
