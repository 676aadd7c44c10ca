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
    """Write ``array`` as ``name.npy`` (numpy writes it in buffered blocks, no copy)."""
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def write_faiss_member(archive: zipfile.ZipFile, name: str, index: Any, faiss: Any) -> None:
    """Write FAISS's serialization of ``index`` as ``name.npy`` (a uint8 array), streamed.

    The .npy header needs the length first, so FAISS serializes twice: once only counting bytes,
    once writing them (a memory copy's worth of CPU, instead of a copy's worth of memory)."""
    size = 0

    def count(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)

    faiss.write_index(index, faiss.PyCallbackIOWriter(count, _BLOCK))
    header = {"descr": "|u1", "fortran_order": False, "shape": (size,)}
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, header)
        faiss.write_index(index, faiss.PyCallbackIOWriter(member.write, _BLOCK))


def read_faiss_member(archive: zipfile.ZipFile, name: str, faiss: Any) -> Any:
    """The FAISS index stored as ``name.npy`` by ``write_faiss_member`` (or by ``np.savez``)."""
    with archive.open(f"{name}.npy") as member:
        _skip_header(member)
        return faiss.read_index(faiss.PyCallbackIOReader(member.read, _BLOCK))


def read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(f"{name}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _skip_header(member: IO[bytes]) -> None:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    if dtype != np.uint8 or len(shape) != 1:
        raise ValueError(f"expected a 1-D uint8 array of FAISS bytes, found {dtype} of shape {shape}")
