"""Golden data for the FP8 codecs: float32 -> float8 casts computed by PyTorch (>= 2.1).

Writes fp8_torch.bin: int32 count N, then N float32 inputs (little endian), then N uint8
float8_e4m3fn codes, then N uint8 float8_e5m2 codes. Inputs mix random bit patterns over the whole
finite float32 range, values near every grid midpoint of both formats, and the special values.
torch's casts round to nearest even; e4m3fn turns values beyond its range into NaN (the kit
saturates instead, so tests compare only in-range inputs there), e5m2 overflows to inf like IEEE.

Run: python3 make_fp8_golden.py  (needs torch with float8 dtypes; the C# tests only read the file)
"""
import struct
import numpy as np
import torch

rng = np.random.default_rng(0)
bits = rng.integers(0, 2**32, size=60000, dtype=np.uint64).astype(np.uint32)
x = bits.view(np.float32)
x = x[np.isfinite(x)]
grids = []
for dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
    codes = torch.arange(256, dtype=torch.uint8).view(dtype).float().numpy()
    codes = np.unique(codes[np.isfinite(codes)])
    mids = (codes[:-1] + codes[1:]) / 2
    grids += [codes, mids, np.nextafter(mids, np.inf, dtype=np.float32), np.nextafter(mids, -np.inf, dtype=np.float32)]
near = np.concatenate(grids).astype(np.float32)
near = np.concatenate([near, -near])
specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38, 448.0, 464.0, 57344.0, 61440.0], dtype=np.float32)
inputs = np.concatenate([x, near, specials]).astype(np.float32)
t = torch.from_numpy(inputs)
e4m3 = t.to(torch.float8_e4m3fn).view(torch.uint8).numpy()
e5m2 = t.to(torch.float8_e5m2).view(torch.uint8).numpy()
with open("fp8_torch.bin", "wb") as f:
    f.write(struct.pack("<i", len(inputs)))
    f.write(inputs.astype("<f4").tobytes())
    f.write(e4m3.tobytes())
    f.write(e5m2.tobytes())
print(len(inputs), "values, torch", torch.__version__)
