#!/usr/bin/env python3
"""Writes hostile layer tars (entries GNU tar will not create) into argv[1], one file per case.
argv[2] is a directory outside the layer that symlink escapes point at."""
import io
import os
import sys
import tarfile

out, outside = sys.argv[1], sys.argv[2]


def write(name, members, fmt=tarfile.GNU_FORMAT):
    with tarfile.open(os.path.join(out, name + ".tar"), "w", format=fmt) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)


def reg(name, data=b"x", mode=0o644):
    i = tarfile.TarInfo(name)
    i.size, i.mode = len(data), mode
    return i, data


def special(name, kind, linkname="", **kw):
    i = tarfile.TarInfo(name)
    i.type, i.linkname = kind, linkname
    for k, v in kw.items():
        setattr(i, k, v)
    return i, None


write("traversal", [reg("ok"), reg("../../evil")])
write("absolute", [reg("/tmp/acond-test-absolute-evil")])
write("symlink-escape", [special("a", tarfile.SYMTYPE, outside), reg("a/pwned")])
write("symlink-dotdot-escape", [special("d/l", tarfile.SYMTYPE, "../../../.."), reg("d/l/pwned")])
write("hardlink-escape", [special("h", tarfile.LNKTYPE, "../../x")])
write("hardlink-absolute", [special("h", tarfile.LNKTYPE, "/etc/passwd")])
write("hardlink-via-symlink",
      [special("s", tarfile.SYMTYPE, "/etc"), special("h", tarfile.LNKTYPE, "s/passwd")])
write("device-node", [special("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3)])
write("fifo", [special("p", tarfile.FIFOTYPE)])
pax_bad = tarfile.TarInfo("innocent")
pax_bad.pax_headers = {"path": "a/../../evil"}
write("pax-bad-path", [(pax_bad, b"")], tarfile.PAX_FORMAT)
pax_huge = tarfile.TarInfo("f")
pax_huge.pax_headers = {"comment": "x" * (2 << 20)}
write("pax-huge-header", [(pax_huge, b"")], tarfile.PAX_FORMAT)
write("gnu-longname-absolute", [reg("/" + "a" * 150)])
write("gnu-longname-huge", [reg("d/" * 40000 + "f")])
