import os

# Two cores are shared by everything on the project machines; tests stay single-threaded.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
