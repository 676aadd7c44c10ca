"""Index files as .npz archives written and read member by member, with no whole-index copy in memory.

``np.savez`` of ``faiss.serialize_index(...)`` holds a second copy of the index (vectors and graph)
while it writes, and ``np.load`` + ``faiss.deserialize_index`` hold one while reading: at 1M x 384
that is 1.6 GB more than the index itself. Here FAISS writes its serialization straight into the
archive member (and reads it straight out), a megabyte at a time. The files stay ordinary .npz
archives that ``np.load`` reads (the FAISS member is a 1-D uint8 array, as before).
"""

from __future__ import annotations

import zipfile
from typing import IO, Any

import numpy as np

#: Bytes FAISS hands to (or asks from) Python per call.
_BLOCK = 1 << 20


def write_member(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    """Write ``array`` as ``name.npy``. A plain numeric array goes out as views of its memory, a
    megabyte at a time: numpy's own writer copies 16 MB blocks holding the GIL (tens of ms each), and a
    checkpoint written in a background thread then stalls the writer's commits for as long."""
    array = np.asanyarray(array)
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        if array.dtype.kind not in "biuf" or not array.flags.c_contiguous:
            np.lib.format.write_array(member, array, allow_pickle=False)
            return
        header = np.lib.format.header_data_from_array_1_0(array)
        try:
            np.lib.format.write_array_header_1_0(member, header)
        except ValueError:  # a header too long for format 1.0
            np.lib.format.write_array_header_2_0(member, header)
        data = memoryview(array.reshape(-1).view(np.uint8))
        for start in range(0, len(data), _BLOCK):
            member.write(data[start : start + _BLOCK])


def write_faiss_member(archive: zipfile.ZipFile, name: str, index: Any, faiss: Any, flags: int = 0) -> None:
    """Write FAISS's serialization of ``index`` as ``name.npy`` (a uint8 array), streamed.

    The .npy header needs the length first, so FAISS serializes twice: once only counting bytes,
    once writing them (a memory copy's worth of CPU, instead of a copy's worth of memory)."""
    size = 0

    def count(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    faiss.write_index(index, faiss.PyCallbackIOWriter(count, _BLOCK), flags)
    header = {"descr": "|u1", "fortran_order": False, "shape": (size,)}
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, header)
        faiss.write_index(index, faiss.PyCallbackIOWriter(member.write, _BLOCK), flags)


def read_faiss_member(archive: zipfile.ZipFile, name: str, faiss: Any, flags: int = 0) -> Any:
    """The FAISS index stored as ``name.npy`` by ``write_faiss_member`` (or by ``np.savez``)."""
    with archive.open(f"{name}.npy") as member:
        _skip_header(member)
        return faiss.read_index(faiss.PyCallbackIOReader(member.read, _BLOCK), flags)


def skip_header(member: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """Read past an open member's .npy header; returns the array's shape and dtype."""
    return _header(member)[:2]


def member_shape(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of array member ``name`` (its header only)."""
    with archive.open(f"{name}.npy") as member:
        return _header(member)[:2]


def read_member_into(archive: zipfile.ZipFile, name: str, target: np.ndarray) -> None:
    """Read array member ``name`` straight into ``target`` (same bytes), a block at a time: the caller
    owns the memory, e.g. a FAISS buffer sized with room to grow."""
    with archive.open(f"{name}.npy") as member:
        shape, dtype, fortran = _header(member)
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if fortran or expected != target.nbytes:
            raise ValueError(f"member {name!r} holds {shape} {dtype}, not the {target.nbytes} bytes expected")
        view = memoryview(target.reshape(-1).view(np.uint8))
        done = 0
        while done < expected:
            read = member.readinto(view[done : done + _BLOCK])
            if not read:
                raise ValueError(f"member {name!r} ends after {done} of {expected} bytes")
            done += read


def read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(f"{name}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _header(member: IO[bytes]) -> tuple[tuple[int, ...], np.dtype, bool]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    return shape, dtype, fortran


def _skip_header(member: IO[bytes]) -> None:
    shape, dtype, _ = _header(member)
    if dtype != np.uint8 or len(shape) != 1:
        raise ValueError(f"expected a 1-D uint8 array of FAISS bytes, found {dtype} of shape {shape}")
