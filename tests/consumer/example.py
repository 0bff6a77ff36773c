import sys

import numpy as np

import keel

session = keel.InferenceSession(sys.argv[1], threads=2, fold=True)  # GIL released while loading
for arg in session.get_inputs() + session.get_outputs():
    print(arg.name, arg.shape, arg.type, file=sys.stderr)  # input ['batch', 3, 64, 64] tensor(float)
x = np.full((1, 3, 64, 64), 0.5, dtype=np.float32)  # C-contiguous float32: viewed, not copied
try:
    [y] = session.run(None, {"input": x})  # GIL released while running; thread-safe
except keel.KeelError as e:  # InvalidArgument (also a ValueError), InvalidModel, Unsupported
    sys.exit(f"keel: {e}")
print("\n".join(f"{v:.6g}" for v in y.ravel()))  # y: a numpy array owning keel's buffer
