"""Read a TensorFlow checkpoint (tensor bundle) without TensorFlow.

A TensorFlow 2 checkpoint ``model`` is two or more files:

- ``model.index``: a LevelDB-style sorted table (SSTable). Its keys are tensor names; its
  values are ``BundleEntryProto`` protobuf messages (dtype, shape, shard, offset, size,
  masked CRC-32C). The entry with the empty key is a ``BundleHeaderProto`` (number of data
  shards, endianness).
- ``model.data-00000-of-00001`` (one file per shard): the raw little-endian tensor bytes.

Only the tiny part of the protobuf wire format these two messages use is decoded here
(varints, length-delimited fields and fixed 32-bit fields), so neither ``protobuf`` nor
``tensorflow`` is needed. Table blocks may be stored raw or Snappy-compressed; both are read.

Nothing here unpickles or evaluates anything: the index is decoded field by field and the
tensors are raw numbers (``model.meta``, the graph, is never read). An index over
:data:`MAX_INDEX_BYTES`, or a block that claims to decode to more, is refused unread.

Every failure (missing file, truncated or damaged index or data, a tensor whose bytes do not
match its checksum) raises :class:`core.errors.SeparationError` with a message a musician can
act on.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import SeparationError

__all__ = ["TensorInfo", "crc32c", "list_checkpoint", "read_checkpoint"]

#: The magic number that ends every LevelDB / TensorFlow table file (little-endian).
_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48  # two block handles padded to 40 bytes, then the 8-byte magic
_BLOCK_TRAILER_BYTES = 5  # 1 byte compression type, 4 bytes masked CRC-32C
_NO_COMPRESSION, _SNAPPY_COMPRESSION = 0, 1
#: A checkpoint index lists tensor names and offsets (the Spleeter one is 5 KB): a bigger
#: index file, or a table block that decodes to more, is refused before it is read/decoded.
MAX_INDEX_BYTES = 64 * 1024 * 1024

#: TensorFlow ``DataType`` enum values -> numpy little-endian dtypes (numeric types only).
_TF_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}
_TF_DTYPE_NAMES = {7: "string", 14: "bfloat16", 8: "complex64", 18: "complex128", 20: "resource", 21: "variant"}


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in a checkpoint.

    Attributes
    ----------
    name : str
        The variable name, e.g. ``"conv2d/kernel"``.
    dtype : str
        numpy dtype name (``"float32"``) or the TensorFlow name of a type this reader does
        not decode (``"string"``).
    shape : tuple of int
        The tensor shape, in TensorFlow order.
    shard : int
        Index of the data file holding the bytes.
    offset_bytes, size_bytes : int
        Byte range in that data file.
    crc32c_masked : int or None
        The stored masked CRC-32C of the bytes, when present.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    shard: int
    offset_bytes: int
    size_bytes: int
    crc32c_masked: int | None


# ----------------------------------------------------------------------------- errors
def _damaged(path: Path, what: str) -> SeparationError:
    return SeparationError(
        f"The separation model file {path} is damaged or incomplete ({what}). "
        "Delete the model folder and download the weights again (`make weights`)."
    )


# ------------------------------------------------------------------- protobuf wire format
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at ``pos``; return (value, next position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end of its buffer")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Split a protobuf message into (field number, wire type, value) triples."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:  # varint
            value, pos = _varint(buf, pos)
        elif wire == 1:  # fixed 64
            if pos + 8 > len(buf):
                raise ValueError("fixed64 field runs past the end")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:  # length-delimited
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("length-delimited field runs past the end")
            value = bytes(buf[pos : pos + length])
            pos += length
        elif wire == 5:  # fixed 32
            if pos + 4 > len(buf):
                raise ValueError("fixed32 field runs past the end")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((number, wire, value))
    return out


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    """``TensorShapeProto``: repeated Dim dim = 2 (Dim: int64 size = 1); bool unknown_rank = 3."""
    dims: list[int] = []
    for number, wire, value in _fields(buf):
        if number == 2 and wire == 2:
            size = 0
            for n2, w2, v2 in _fields(value):  # type: ignore[arg-type]
                if n2 == 1 and w2 == 0:
                    size = v2 if v2 < 1 << 63 else v2 - (1 << 64)  # type: ignore[operator]
            dims.append(int(size))
        elif number == 3 and wire == 0 and value:
            raise ValueError("tensor of unknown rank")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> TensorInfo:
    """``BundleEntryProto``: dtype=1, shape=2, shard_id=3, offset=4, size=5, crc32c=6 (fixed32), slices=7."""
    dtype_code, shape, shard, offset, size, crc = 0, (), 0, 0, 0, None
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            dtype_code = int(value)  # type: ignore[arg-type]
        elif number == 2 and wire == 2:
            shape = _parse_shape(value)  # type: ignore[arg-type]
        elif number == 3 and wire == 0:
            shard = int(value)  # type: ignore[arg-type]
        elif number == 4 and wire == 0:
            offset = int(value)  # type: ignore[arg-type]
        elif number == 5 and wire == 0:
            size = int(value)  # type: ignore[arg-type]
        elif number == 6 and wire == 5:
            crc = int(value)  # type: ignore[arg-type]
        elif number == 7:
            raise ValueError(f"tensor {name!r} is stored in slices (partitioned variables are not supported)")
    if dtype_code in _TF_DTYPES:
        dtype = _TF_DTYPES[dtype_code].name
    else:
        dtype = _TF_DTYPE_NAMES.get(dtype_code, f"tf-dtype-{dtype_code}")
    if any(d < 0 for d in shape):
        raise ValueError(f"tensor {name!r} has a negative dimension {shape}")
    return TensorInfo(name, dtype, shape, shard, offset, size, crc)


def _parse_header(buf: bytes) -> int:
    """``BundleHeaderProto``: num_shards=1, endianness=2 (0 little, 1 big), version=3. Return shards."""
    shards, endianness = 1, 0
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            shards = int(value)  # type: ignore[arg-type]
        elif number == 2 and wire == 0:
            endianness = int(value)  # type: ignore[arg-type]
    if endianness != 0:
        raise ValueError("big-endian checkpoints are not supported")
    if shards < 1:
        raise ValueError(f"header says {shards} data shards")
    return shards


# --------------------------------------------------------------------------- CRC-32C
def _crc_table() -> np.ndarray:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(poly), table >> 1).astype(np.uint32)
    return table


_CRC_TABLE = _crc_table()
_CRC_TABLE.setflags(write=False)  # constant lookup table
_CRC_TABLE_LIST = tuple(int(x) for x in _CRC_TABLE)


def _slice4_tables() -> np.ndarray:
    """Tables for "slicing by 4": table k advances a byte that is followed by k more bytes."""
    tables = [_CRC_TABLE]
    for _ in range(3):
        prev = tables[-1]
        tables.append((prev >> 8) ^ _CRC_TABLE[prev & 0xFF])
    return np.stack(tables)


_SLICE4 = _slice4_tables()
_SLICE4.setflags(write=False)  # constant lookup tables


def _gf2_apply(cols: list[int] | tuple[int, ...], x: int) -> int:
    """Multiply the 32x32 GF(2) matrix given by its columns with the bit vector ``x``."""
    out = 0
    i = 0
    while x:
        if x & 1:
            out ^= cols[i]
        x >>= 1
        i += 1
    return out


def _gf2_square(cols: list[int] | tuple[int, ...]) -> list[int]:
    return [_gf2_apply(cols, col) for col in cols]


#: The operator "advance the raw CRC register over one zero byte", column by column.
_ONE_ZERO_BYTE = tuple(((1 << i) >> 8) ^ _CRC_TABLE_LIST[(1 << i) & 0xFF] for i in range(32))


def _zero_bytes_matrix(n_bytes: int) -> list[int]:
    """The operator advancing the register over ``n_bytes`` zero bytes (square and multiply).

    The register update is linear over GF(2), so running it over zeros is a 32x32 bit matrix.
    """
    result = [1 << i for i in range(32)]  # identity
    power = list(_ONE_ZERO_BYTE)
    n = n_bytes
    while n:
        if n & 1:
            result = [_gf2_apply(power, col) for col in result]
        n >>= 1
        if n:
            power = _gf2_square(power)
    return result


def _byte_tables(cols: list[int]) -> np.ndarray:
    """Four 256-entry lookup tables applying the matrix one input byte at a time."""
    values = np.arange(256, dtype=np.uint32)
    tables = np.zeros((4, 256), dtype=np.uint32)
    for k in range(4):
        for bit in range(8):
            tables[k] ^= np.where((values >> bit) & 1, np.uint32(cols[8 * k + bit]), np.uint32(0))
    return tables


def _apply_shift(tables: np.ndarray, x: np.ndarray) -> np.ndarray:
    return (
        tables[0][x & 0xFF]
        ^ tables[1][(x >> 8) & 0xFF]
        ^ tables[2][(x >> 16) & 0xFF]
        ^ tables[3][(x >> 24) & 0xFF]
    )


def crc32c(data: bytes | bytearray | memoryview | np.ndarray) -> int:
    """CRC-32C (Castagnoli) of ``data``, as LevelDB and TensorFlow compute it.

    Long inputs are split into equal lanes whose CRCs are computed side by side with numpy and
    then combined pairwise (the CRC register is linear over GF(2)), so a 13 MB tensor costs a
    fraction of a second instead of a minute of pure-Python byte loops.
    """
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    n = buf.size
    if n < 4096:
        crc = 0xFFFFFFFF
        table = _CRC_TABLE_LIST
        for b in buf.tobytes():
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF
    lane_bytes = 256
    lanes = 1 << int(np.ceil(np.log2(-(-n // lane_bytes))))
    padded = np.zeros(lanes * lane_bytes, dtype=np.uint8)
    padded[padded.size - n :] = buf  # leading zeros leave a zero register unchanged
    words = padded.view("<u4").reshape(lanes, lane_bytes // 4).T.copy()  # word j of every lane
    t0, t1, t2, t3 = _SLICE4
    reg = np.zeros(lanes, dtype=np.uint32)
    for word in words:  # four bytes a step, every lane at once
        reg ^= word
        reg = t3[reg & 0xFF] ^ t2[(reg >> 8) & 0xFF] ^ t1[(reg >> 16) & 0xFF] ^ t0[reg >> 24]
    shift = _zero_bytes_matrix(lane_bytes)
    while reg.size > 1:  # combine neighbours: crc(A||B) = shift_len(B)(crc(A)) ^ crc(B)
        reg = _apply_shift(_byte_tables(shift), reg[0::2]) ^ reg[1::2]
        shift = _gf2_square(shift)
    init = _gf2_apply(_zero_bytes_matrix(n), 0xFFFFFFFF)
    return (int(reg[0]) ^ init) ^ 0xFFFFFFFF


def _unmask(masked: int) -> int:
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# ---------------------------------------------------------------------------- Snappy
def _snappy_decompress(buf: bytes) -> bytes:
    """Decompress one raw Snappy block (the format LevelDB tables use)."""
    length, pos = _varint(buf, 0)
    if length > MAX_INDEX_BYTES:
        raise ValueError(f"a snappy block claims {length} bytes, more than an index ever holds")
    out = bytearray()
    while pos < len(buf) and len(out) <= length:
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(buf[pos : pos + extra], "little")
                pos += extra
            n += 1
            if pos + n > len(buf):
                raise ValueError("snappy literal runs past the end")
            out += buf[pos : pos + n]
            pos += n
            continue
        if kind == 1:
            n = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | buf[pos]
            pos += 1
        elif kind == 2:
            n = (tag >> 2) + 1
            offset = int.from_bytes(buf[pos : pos + 2], "little")
            pos += 2
        else:
            n = (tag >> 2) + 1
            offset = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise ValueError("snappy copy points before the start")
        start = len(out) - offset
        if n <= offset:
            out += out[start : start + n]
        else:
            for i in range(n):  # copies may overlap their own output
                out.append(out[start + i])
    if len(out) != length:
        raise ValueError(f"snappy block decodes to {len(out)} bytes, expected {length}")
    return bytes(out)


# ----------------------------------------------------------------------------- table
def _read_block(data: bytes, offset: int, size: int) -> bytes:
    end = offset + size
    if offset < 0 or end + _BLOCK_TRAILER_BYTES > len(data):
        raise ValueError("a table block points past the end of the file")
    kind = data[end]
    stored_crc = struct.unpack_from("<I", data, end + 1)[0]
    if crc32c(data[offset : end + 1]) != _unmask(stored_crc):
        raise ValueError("a table block fails its checksum")
    raw = data[offset:end]
    if kind == _NO_COMPRESSION:
        return raw
    if kind == _SNAPPY_COMPRESSION:
        return _snappy_decompress(raw)
    raise ValueError(f"unknown block compression type {kind}")


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of one table block (prefix-compressed keys, restart array at the end)."""
    if len(block) < 4:
        raise ValueError("a table block is too short")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise ValueError("a table block has a bad restart count")
    entries: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise ValueError("a table entry runs past its block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def _index_path(prefix: Path) -> Path:
    return prefix.with_name(prefix.name + ".index")


def _data_path(prefix: Path, shard: int, shards: int) -> Path:
    return prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{shards:05d}")


def _read_index(prefix: Path) -> tuple[int, dict[str, TensorInfo]]:
    path = _index_path(prefix)
    if not path.is_file():
        raise SeparationError(
            f"The separation model index {path} is missing. "
            "Download the weights (`make weights`) or point to the folder that holds model.index."
        )
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise _damaged(path, f"{path.stat().st_size} bytes, far more than a checkpoint index holds")
    data = path.read_bytes()
    if len(data) < _FOOTER_BYTES:
        raise _damaged(path, f"only {len(data)} bytes, too short to be a checkpoint index")
    footer = data[-_FOOTER_BYTES:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise _damaged(path, "it does not end with the checkpoint index magic number; truncated or not an index")
    try:
        _meta_off, pos = _varint(footer, 0)
        _meta_size, pos = _varint(footer, pos)
        index_off, pos = _varint(footer, pos)
        index_size, pos = _varint(footer, pos)
        shards = 1
        infos: dict[str, TensorInfo] = {}
        for _last_key, handle in _block_entries(_read_block(data, index_off, index_size)):
            off, p = _varint(handle, 0)
            size, _ = _varint(handle, p)
            for key, value in _block_entries(_read_block(data, off, size)):
                if key == b"":
                    shards = _parse_header(value)
                    continue
                name = key.decode("utf-8")
                infos[name] = _parse_entry(name, value)
    except (ValueError, IndexError, UnicodeDecodeError, struct.error) as exc:
        raise _damaged(path, str(exc)) from exc
    if not infos:
        raise _damaged(path, "it lists no tensors")
    for info in infos.values():
        if info.shard >= shards:
            raise _damaged(path, f"tensor {info.name!r} is in shard {info.shard} of {shards}")
    return shards, infos


# ------------------------------------------------------------------------------ API
def list_checkpoint(prefix: str | Path) -> dict[str, TensorInfo]:
    """Describe every tensor of a checkpoint without reading the data file.

    Parameters
    ----------
    prefix : str or Path
        The checkpoint prefix, e.g. ``weights/spleeter/2stems/model`` for the files
        ``model.index`` and ``model.data-00000-of-00001``.

    Returns
    -------
    dict
        Tensor name -> :class:`TensorInfo` (dtype, shape, where its bytes are), in name order.

    Raises
    ------
    SeparationError
        The index is missing, truncated or damaged.
    """
    return _read_index(Path(prefix))[1]


def read_checkpoint(prefix: str | Path, *, verify_checksums: bool = True) -> dict[str, np.ndarray]:
    """Load every numeric tensor of a TensorFlow checkpoint as numpy arrays.

    Parameters
    ----------
    prefix : str or Path
        The checkpoint prefix (``.../model`` for ``.../model.index``).
    verify_checksums : bool, keyword-only
        Check each tensor's bytes against its stored CRC-32C (about 0.5 s for 80 MB).

    Returns
    -------
    dict
        Tensor name -> array with the checkpoint's dtype and shape (TensorFlow layout). String
        and other non-numeric tensors (bookkeeping, not weights) are left out.

    Raises
    ------
    SeparationError
        A file is missing, truncated or damaged, or a tensor's size or checksum is wrong.
    """
    prefix = Path(prefix)
    shards, infos = _read_index(prefix)
    numeric = {d.name for d in _TF_DTYPES.values()}
    wanted = {name: info for name, info in infos.items() if info.dtype in numeric}
    sizes: dict[int, int] = {}
    for name, info in wanted.items():  # check every size before reading any bytes
        path = _data_path(prefix, info.shard, shards)
        if info.shard not in sizes:
            if not path.is_file():
                raise SeparationError(
                    f"The separation model data file {path} is missing. "
                    "Download the weights again (`make weights`)."
                )
            sizes[info.shard] = path.stat().st_size
        expected = math.prod(info.shape) * np.dtype(info.dtype).itemsize  # exact: no int64 wrap-around
        if expected != info.size_bytes:
            raise _damaged(
                _index_path(prefix),
                f"tensor {name!r} of shape {info.shape} needs {expected} bytes but the index says {info.size_bytes}",
            )
        if info.offset_bytes + info.size_bytes > sizes[info.shard]:
            raise _damaged(
                path,
                f"tensor {name!r} needs bytes up to {info.offset_bytes + info.size_bytes} "
                f"but the file has only {sizes[info.shard]}; it is truncated",
            )
    out: dict[str, np.ndarray] = {}
    for shard in sorted(sizes):
        path = _data_path(prefix, shard, shards)
        with open(path, "rb") as stream:
            for name, info in wanted.items():
                if info.shard != shard:
                    continue
                stream.seek(info.offset_bytes)
                raw = bytearray(info.size_bytes)
                if stream.readinto(raw) != info.size_bytes:
                    raise _damaged(path, f"tensor {name!r} could not be read in full; the file is truncated")
                if verify_checksums and info.crc32c_masked is not None:
                    if crc32c(raw) != _unmask(info.crc32c_masked):
                        raise _damaged(path, f"tensor {name!r} fails its checksum")
                out[name] = np.frombuffer(raw, dtype=np.dtype(info.dtype)).reshape(info.shape)
    return dict(sorted(out.items()))
