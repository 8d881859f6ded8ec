"""Data: QM9 offline, batching for models, the processed-data cache.

Also :mod:`unite_mol.data.druglike` (an offline drug-like 3D set), :mod:`unite_mol.data.geom` (GEOM-drugs loaders)
and :mod:`unite_mol.data.sets` (one interface over all of them for training: ``training_set("qm9" | "druglike" |
"geom:FOLDER")``).
"""

from unite_mol.data.batching import (BucketBatchSampler, MolBatch, canonical_frame, collate, collate_arrays,
                                    masked_center, random_rotation, random_rotations, rotate)
from unite_mol.data.qm9 import QM9Split, qm9
from unite_mol.data.sets import TrainingSet, training_set

__all__ = ["qm9", "QM9Split", "MolBatch", "collate", "collate_arrays", "masked_center", "canonical_frame",
           "random_rotation", "random_rotations", "rotate", "BucketBatchSampler", "training_set", "TrainingSet"]
