"""Small synthetic GGUF files for tests: a valid v3 header, real metadata key/values and tensor
infos (so a reader finds the architecture, file type, context length, chat template and a
parameter count), then ``data_bytes`` of tensor data. Not loadable by llama.cpp (the data is
filler), which no test here needs: the real SmolLM2 file covers real loading."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
from pathlib import Path

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}")


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_bytes(*, arch: str = "llama", name: str = "Tiny Test", file_type: int = 3,
               context_length: int = 2048, chat_template: str | None = CHATML,
               tensors: tuple[tuple[int, ...], ...] = ((64, 32), (32,)),
               data_bytes: int = 4096) -> bytes:
    kvs = [
        (_str("general.architecture"), 8, _str(arch)),
        (_str("general.name"), 8, _str(name)),
        (_str("general.file_type"), 4, struct.pack("<I", file_type)),
        (_str(f"{arch}.context_length"), 4, struct.pack("<I", context_length)),
        # an array, as real files have (the vocabulary): readers must skip it
        (_str("tokenizer.ggml.tokens"), 9,
         struct.pack("<IQ", 8, 3) + _str("<s>") + _str("</s>") + _str("hi")),
    ]
    if chat_template is not None:
        kvs.append((_str("tokenizer.chat_template"), 8, _str(chat_template)))
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for key, vtype, value in kvs:
        out += key + struct.pack("<I", vtype) + value
    offset = 0
    for i, dims in enumerate(tensors):
        out += _str(f"blk.{i}.weight") + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", 0, offset)
        offset += 4
    out += b"\0" * (-len(out) % 32)  # general.alignment
    out += bytes(range(256)) * (data_bytes // 256) + b"\0" * (data_bytes % 256)
    return bytes(out)


def write_gguf(path: Path, **kwargs: object) -> Path:
    path.write_bytes(gguf_bytes(**kwargs))  # type: ignore[arg-type]
    return path


def parameters(tensors: tuple[tuple[int, ...], ...] = ((64, 32), (32,))) -> int:
    total = 0
    for dims in tensors:
        n = 1
        for d in dims:
            n *= d
        total += n
    return total


def package_tar(layers: list[bytes], *, corrupt: bool = False) -> tuple[bytes, str]:
    """What `docker model package` streams (pkg/distribution/tarball)."""
    config = json.dumps({"config": {"format": "gguf", "quantization": "Q4_1",
                                    "parameters": "0.00 M", "architecture": "llama",
                                    "size": "1.00 KiB"}}).encode()
    chex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2, "config": {"digest": f"sha256:{chex}", "size": len(config)},
        "layers": [{"digest": "sha256:" + hashlib.sha256(x).hexdigest(), "size": len(x)}
                   for x in layers]}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for i, data in enumerate([*layers, config]):
            name = hashlib.sha256(data).hexdigest()
            if corrupt and i == 0:
                data = data[:-1] + b"!"
            ti = tarfile.TarInfo(f"blobs/sha256/{name}")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("manifest.json")
        ti.size = len(manifest)
        tf.addfile(ti, io.BytesIO(manifest))
    return buf.getvalue(), "sha256:" + hashlib.sha256(manifest).hexdigest()
