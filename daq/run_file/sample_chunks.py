"""Raw samples written chunk by chunk, compressed here and handed to HDF5 as finished chunks
(``write_direct_chunk``): no copy into one big block, none into HDF5's chunk cache, and the
filter pipeline is skipped. Readers decompress through the dataset's declared Blosc filter
(hdf5plugin), exactly as if HDF5 had compressed the chunk itself.

This is where the raw-sample ingest speed comes from (``bench/file_ingest.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import h5py
import numpy as np

DIRECT = ("blosc-lz4", "blosc-lz4-bitshuffle", "none")  # gzip goes through HDF5's pipeline


def chunk_compressor(name: str) -> Callable[[np.ndarray], bytes | np.ndarray]:
    """What HDF5's filter for ``name`` would store for one chunk."""
    if name == "none":
        return lambda chunk: chunk
    import blosc

    blosc.set_nthreads(1)  # one core per writer; the DAQ's other processes need the others
    shuffle = blosc.BITSHUFFLE if name.endswith("bitshuffle") else blosc.SHUFFLE

    def compress(chunk: np.ndarray) -> bytes:
        return blosc.compress_ptr(chunk.__array_interface__["data"][0], chunk.size,
                                  typesize=chunk.itemsize, clevel=5, shuffle=shuffle,
                                  cname="lz4")

    return compress


class SampleChunkWriter:
    """Appends rows to a chunked ``(events, ...)`` dataset whole chunks at a time. The last,
    unfilled chunk of a block is written too (so that a flush makes every row readable) and
    rewritten with more rows by the next block."""

    def __init__(self, ds: h5py.Dataset, compression: str):
        self.ds = ds
        self.rows = ds.chunks[0]
        self.compress = chunk_compressor(compression)
        self.buffer = np.zeros((self.rows, *ds.shape[1:]), ds.dtype)
        self.fill = 0  # rows of the unfilled chunk held in ``buffer``
        self.index = ds.shape[0] // self.rows  # the chunk being filled

    def append(self, arrays: Sequence[np.ndarray]) -> None:
        """Write ``arrays`` (C-contiguous) after the rows already written; the caller has
        resized the dataset."""
        for a in arrays:
            pos = 0
            while pos < len(a):
                if self.fill == 0 and len(a) - pos >= self.rows:  # straight from the batch
                    self._write(a[pos:pos + self.rows])
                    pos += self.rows
                    continue
                k = min(self.rows - self.fill, len(a) - pos)
                self.buffer[self.fill:self.fill + k] = a[pos:pos + k]
                self.fill += k
                pos += k
                if self.fill == self.rows:
                    self.fill = 0
                    self._write(self.buffer)
        if self.fill:
            self.buffer[self.fill:] = 0
            self._write(self.buffer, done=False)

    def _write(self, chunk: np.ndarray, done: bool = True) -> None:
        offset = (self.index * self.rows,) + (0,) * (chunk.ndim - 1)
        self.ds.id.write_direct_chunk(offset, self.compress(chunk))
        if done:
            self.index += 1
