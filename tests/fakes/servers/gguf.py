"""Reading a GGUF file's header, metadata and tensor shapes (never the tensor data), with
the standard library only: the fake Ollama's create-from-file and the fake ``docker model
package`` plugin read what they are given, as the real ones do.
"""

from __future__ import annotations

import struct
from typing import Any

# llama.cpp llama_ftype -> the name Ollama shows (fs/ggml FileType.String)
GGUF_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
}
_GGUF_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
               11: "q", 12: "d"}


def gguf_info(path: str) -> dict[str, Any]:
    """Read a GGUF file's header, scalar/string metadata and tensor shapes (not the data).

    Returns {"version", "metadata": {key: value}, "tensors", "parameters"}; arrays are
    skipped (their length is kept as "<key>#len"). ValueError("invalid file magic") for
    anything that is not GGUF v2/v3, as Ollama's reader says."""
    with open(path, "rb") as f:
        def read(n: int) -> bytes:
            data = f.read(n)
            if len(data) != n:
                raise ValueError("unexpected end of GGUF file")
            return data

        def u32() -> int:
            return struct.unpack("<I", read(4))[0]

        def u64() -> int:
            return struct.unpack("<Q", read(8))[0]

        def string() -> str:
            return read(u64()).decode("utf-8", "replace")

        def value(vtype: int) -> Any:
            if vtype in _GGUF_FIXED:
                fmt = "<" + _GGUF_FIXED[vtype]
                return struct.unpack(fmt, read(struct.calcsize(fmt)))[0]
            if vtype == 8:
                return string()
            raise ValueError(f"unknown GGUF value type {vtype}")

        if f.read(4) != b"GGUF":
            raise ValueError("invalid file magic")
        version = u32()
        if version not in (2, 3):
            raise ValueError(f"unsupported GGUF version {version}")
        n_tensors, n_kv = u64(), u64()
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key, vtype = string(), u32()
            if vtype != 9:
                meta[key] = value(vtype)
                continue
            etype, count = u32(), u64()
            meta[key + "#len"] = count
            if etype in _GGUF_FIXED:
                f.seek(count * struct.calcsize("<" + _GGUF_FIXED[etype]), 1)
            elif etype == 8:
                for _ in range(count):
                    f.seek(u64(), 1)
            else:
                raise ValueError(f"unsupported GGUF array type {etype}")
        params = 0
        for _ in range(n_tensors):
            f.seek(u64(), 1)  # name
            dims = [u64() for _ in range(u32())]
            u32()  # type
            u64()  # offset
            n = 1
            for d in dims:
                n *= d
            params += n
    return {"version": version, "metadata": meta, "tensors": n_tensors, "parameters": params}
