"""One walk over the image's filesystem: every entry's kind, mode and size, symlink targets, and the
directory symlinks the ownership index canonicalises through. Catalogers select their files from this
index instead of walking the tree again."""

from __future__ import annotations

import os
import posixpath
import stat as st
from dataclasses import dataclass, field

from honed.image.rootfs import RootFS, resolve_links

FILE, DIR, LINK, OTHER = "f", "d", "l", "o"


@dataclass(slots=True)
class FileIndex:
    entries: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # path → (kind, mode, size)
    links: dict[str, str] = field(default_factory=dict)  # symlink path → raw target
    children: dict[str, list[str]] = field(default_factory=dict)  # directory → its entries' paths

    @classmethod
    def build(cls, rootfs: RootFS) -> FileIndex:
        pre = getattr(rootfs, "file_index", None)
        if isinstance(pre, FileIndex):  # a StreamRootFS built it from the layer tars already
            return pre
        idx = cls()
        try:
            host = str(rootfs.host_path("/"))
        except Exception:  # a RootFS that is not directory-backed: use its own walk
            host = ""
        if host and os.path.isdir(host):
            idx._scan(host)
        else:
            for info in rootfs.walk("/"):
                kind = {"file": FILE, "dir": DIR, "symlink": LINK}.get(info.kind, OTHER)
                idx.entries[info.path] = (kind, info.mode, info.size)
                idx.children.setdefault(parent(info.path), []).append(info.path)
                if kind == LINK and info.link_target is not None:
                    idx.links[info.path] = info.link_target
        return idx

    def _scan(self, host: str) -> None:
        entries = self.entries
        links = self.links
        children = self.children
        cut = len(host.rstrip("/"))
        stack = [host.rstrip("/") or "/"]
        S_IFMT, S_IFREG, S_IFDIR, S_IFLNK = st.S_IFMT, st.S_IFREG, st.S_IFDIR, st.S_IFLNK
        while stack:
            d = stack.pop()
            try:
                it = os.scandir(d)
            except OSError:
                continue
            kids: list[str] = []
            children[d[cut:] or "/"] = kids
            with it:
                for e in it:
                    try:
                        s = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    fmt = S_IFMT(s.st_mode)
                    p = e.path[cut:]
                    kids.append(p)
                    if fmt == S_IFREG:
                        entries[p] = (FILE, s.st_mode & 0o7777, s.st_size)
                    elif fmt == S_IFDIR:
                        entries[p] = (DIR, s.st_mode & 0o7777, 0)
                        stack.append(e.path)
                    elif fmt == S_IFLNK:
                        entries[p] = (LINK, s.st_mode & 0o7777, 0)
                        try:
                            links[p] = os.readlink(e.path)
                        except OSError:
                            links[p] = ""
                    else:
                        entries[p] = (OTHER, s.st_mode & 0o7777, 0)

    # -- symlinks, resolved in memory (confined to the root like DirRootFS.resolve) ----------------------
    def resolve(self, path: str) -> str:
        return resolve_links(path, self.links.get)

    def dir_links(self) -> dict[str, str]:
        """Symlinks that resolve to a directory → that directory (fully resolved)."""
        out = {}
        for p in self.links:
            r = self.resolve(p)
            e = self.entries.get(r)
            if e is not None and e[0] == DIR:
                out[p] = r
        return out

    def kind(self, path: str) -> str | None:
        e = self.entries.get(path)
        return e[0] if e else None

    def files(self) -> list[str]:
        return [p for p, e in self.entries.items() if e[0] == FILE]

    def under(self, top: str) -> list[str]:
        """Every entry strictly below directory `top` (no symlinks followed)."""
        out: list[str] = []
        stack = [top]
        children = self.children
        while stack:
            for p in children.get(stack.pop(), ()):
                out.append(p)
                if p in children:
                    stack.append(p)
        return out


def parent(path: str) -> str:
    return posixpath.dirname(path) or "/"
