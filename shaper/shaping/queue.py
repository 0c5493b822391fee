"""The bounded queue: bytes read from the source that the link has not sent yet."""

from __future__ import annotations

from collections import deque


class ByteQueue:
    """FIFO of byte chunks, sized in bytes.

    The bound lives with the owner (PipeModel.room), which the I/O layer asks
    before reading: shrinking it below the occupancy drops nothing, reading
    just stops until the queue drains.
    """

    __slots__ = ("_chunks", "size")

    def __init__(self) -> None:
        self._chunks: deque[memoryview] = deque()
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def push(self, data: bytes | memoryview) -> None:
        if data:
            self._chunks.append(memoryview(data))
            self.size += len(data)

    def take(self, limit: int) -> memoryview:
        """Remove and return up to `limit` bytes from the head (never spanning chunks)."""
        head = self._chunks[0]
        if len(head) <= limit:
            self._chunks.popleft()
            piece = head
        else:
            piece = head[:limit]
            self._chunks[0] = head[limit:]
        self.size -= len(piece)
        return piece
