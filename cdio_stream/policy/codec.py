"""Policy state as bytes: an orjson header plus raw numpy arrays, versioned, no pickle.

Layout::

    b"CDPS" | u8 format version | u32 header length (little endian) | header JSON | array bytes

The header is a JSON object; its ``"arrays"`` entry lists ``[name, dtype, shape, offset,
nbytes]`` for each array, whose little-endian bytes follow the header back to back. Floats
round-trip exactly (orjson writes the shortest repr that reads back the same double).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from cdio_stream.errors import MessageError

__all__ = ["STATE_MAGIC", "STATE_FORMAT", "encode_state", "decode_state", "rng_to_json", "rng_from_json"]

STATE_MAGIC = b"CDPS"
STATE_FORMAT = 1
_PREFIX = struct.Struct("<4sBI")
_DTYPES = ("<f8", "<i8", "|u1", "|b1", "<i4", "<f4")


def encode_state(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> bytes:
    """Header (JSON-able, no key ``arrays``) and named arrays -> bytes."""
    if "arrays" in header:
        raise ValueError("header key 'arrays' is reserved")
    table, blobs, offset = [], [], 0
    for name, arr in (arrays or {}).items():
        a = np.ascontiguousarray(arr)
        dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder not in ("|", "<") else a.dtype
        a = a.astype(dtype, copy=False)
        if dtype.str not in _DTYPES:
            raise ValueError(f"array {name!r}: unsupported dtype {a.dtype}")
        raw = a.tobytes()
        table.append([name, dtype.str, list(a.shape), offset, len(raw)])
        blobs.append(raw)
        offset += len(raw)
    head = orjson.dumps({**header, "arrays": table})
    return _PREFIX.pack(STATE_MAGIC, STATE_FORMAT, len(head)) + head + b"".join(blobs)


def decode_state(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`encode_state`; anything malformed raises MessageError."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MessageError(f"policy state must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _PREFIX.size:
        raise MessageError(f"policy state truncated ({len(data)} bytes)")
    magic, fmt, head_len = _PREFIX.unpack_from(data)
    if magic != STATE_MAGIC:
        raise MessageError("not a policy state (bad magic)")
    if fmt != STATE_FORMAT:
        raise MessageError(f"unsupported policy state format {fmt} (expected {STATE_FORMAT})")
    body = _PREFIX.size + head_len
    if len(data) < body:
        raise MessageError("policy state truncated inside its header")
    try:
        header = orjson.loads(data[_PREFIX.size : body])
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"policy state header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise MessageError("policy state header must be an object with an 'arrays' list")
    arrays = {}
    for entry in header.pop("arrays"):
        try:
            name, dtype, shape, offset, nbytes = entry
            if dtype not in _DTYPES:
                raise ValueError(f"dtype {dtype!r}")
            start = body + int(offset)
            if start + int(nbytes) > len(data):
                raise ValueError("data truncated")
            arr = np.frombuffer(
                data, dtype=np.dtype(dtype), count=int(nbytes) // np.dtype(dtype).itemsize, offset=start
            )
            arrays[str(name)] = arr.reshape([int(s) for s in shape]).copy()
        except (TypeError, ValueError) as exc:
            raise MessageError(f"policy state: bad array entry {entry!r}: {exc}") from None
    return header, arrays


def rng_to_json(rng: np.random.Generator) -> dict[str, Any]:
    """A Generator's bit-generator state with its big integers as strings (JSON-safe)."""
    return _stringify(rng.bit_generator.state)


def rng_from_json(rng: np.random.Generator, state: Mapping[str, Any]) -> None:
    rng.bit_generator.state = _unstringify(state)


def _stringify(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _stringify(v) for k, v in obj.items()}
    if isinstance(obj, int) and not isinstance(obj, bool):
        return {"int": str(obj)}
    return obj


def _unstringify(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"int"}:
            return int(obj["int"])
        return {k: _unstringify(v) for k, v in obj.items()}
    return obj
