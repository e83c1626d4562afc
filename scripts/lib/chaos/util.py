"""LSN text, CRC-32C (Castagnoli) and reading WAL spans from a safekeeper's
segment files (docs/ON-DISK.md sections 1 and 6)."""
import os
import re

SEGMENT_RE = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$")
DEFAULT_SEG = 16 * 1024 * 1024


def lsn(text):
    """'X/Y' -> int; raises ValueError naming the text."""
    hi, sep, lo = text.strip().partition("/")
    if not sep or not (1 <= len(hi) <= 8) or not (1 <= len(lo) <= 8):
        raise ValueError("not an LSN: %r" % text)
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_text(v):
    return "%X/%X" % (v >> 32, v & 0xFFFFFFFF)


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data, crc=0):
    """CRC-32C as PostgreSQL and iSCSI use it (initial and final XOR 0xFFFFFFFF)."""
    c = crc ^ 0xFFFFFFFF
    t = _TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


class SegmentDir:
    """The WAL segment files of one timeline on one safekeeper, by segment
    number. Reads spans of the WAL stream across segment boundaries."""

    def __init__(self, path):
        self.path = path
        self.files = {}
        self.seg_size = None
        if not os.path.isdir(path):
            return
        for name in os.listdir(path):
            m = SEGMENT_RE.match(name)
            if not m:
                continue
            size = os.path.getsize(os.path.join(path, name))
            if self.seg_size is None or size > self.seg_size:
                self.seg_size = size
            self.files[(int(m.group(2), 16), int(m.group(3), 16))] = name
        self.seg_size = self.seg_size or DEFAULT_SEG
        per_id = 0x100000000 // self.seg_size
        self.segs = {hi * per_id + lo: name for (hi, lo), name in self.files.items()}
        self._cache = {}

    def _segment(self, segno):
        if segno not in self._cache:
            name = self.segs.get(segno)
            if name is None:
                self._cache[segno] = None
            else:
                with open(os.path.join(self.path, name), "rb") as f:
                    self._cache[segno] = f.read()
            if len(self._cache) > 4:  # keep memory bounded: spans are read in LSN order
                for k in list(self._cache)[:-4]:
                    del self._cache[k]
        return self._cache[segno]

    def read(self, start, end):
        """Bytes [start, end) of the WAL stream, or None if a segment is missing."""
        out = []
        pos = start
        while pos < end:
            segno = pos // self.seg_size
            data = self._segment(segno)
            if data is None:
                return None
            off = pos - segno * self.seg_size
            n = min(end - pos, self.seg_size - off)
            piece = data[off:off + n]
            if len(piece) != n:
                return None
            out.append(piece)
            pos += n
        return b"".join(out)
