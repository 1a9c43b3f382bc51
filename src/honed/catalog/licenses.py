"""Licence strings → SPDX expressions.

Every value this module returns is a syntactically valid SPDX expression: known identifiers stay, common
aliases (Debian short names, PyPI classifiers, "Apache 2.0") map to their SPDX id, and anything else becomes a
`LicenseRef-…` so writers never emit an id the SPDX list does not have.
"""

from __future__ import annotations

import re

from honed.catalog._spdx_ids import SPDX_IDS

_LOWER = {i.lower(): i for i in SPDX_IDS}

# Debian copyright-format short names and frequent free-text aliases (lower-case keys).
_ALIASES = {
    "gpl-1": "GPL-1.0-only",
    "gpl-1+": "GPL-1.0-or-later",
    "gpl-2": "GPL-2.0-only",
    "gpl-2+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only",
    "gpl-3+": "GPL-3.0-or-later",
    "gpl": "GPL-1.0-or-later",
    "gpl+": "GPL-1.0-or-later",
    "gplv2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later",
    "gplv3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.0": "LGPL-2.0-only",
    "lgpl-2.0+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later",
    "lgpl-3.0": "LGPL-3.0-only",
    "lgpl-3.0+": "LGPL-3.0-or-later",
    "lgpl": "LGPL-2.0-or-later",
    "agpl-3": "AGPL-3.0-only",
    "agpl-3+": "AGPL-3.0-or-later",
    "gfdl-1.2": "GFDL-1.2-only",
    "gfdl-1.2+": "GFDL-1.2-or-later",
    "gfdl-1.3": "GFDL-1.3-only",
    "gfdl-1.3+": "GFDL-1.3-or-later",
    "gfdl-nis": "GFDL-1.3-no-invariants-only",
    "apache-2": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "apache-2.0+": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "asl 2.0": "Apache-2.0",
    "artistic": "Artistic-1.0-Perl",
    "artistic-1": "Artistic-1.0",
    "artistic-2": "Artistic-2.0",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "simplified bsd": "BSD-2-Clause",
    "expat": "MIT",
    "mit license": "MIT",
    "the mit license": "MIT",
    "mit/expat": "MIT",
    "psf": "PSF-2.0",
    "psf-2": "PSF-2.0",
    "psf license": "PSF-2.0",
    "python": "Python-2.0",
    "mpl-1.1": "MPL-1.1",
    "mpl-2": "MPL-2.0",
    "mpl 2.0": "MPL-2.0",
    "cc0": "CC0-1.0",
    "cc-by-3": "CC-BY-3.0",
    "cc-by-4": "CC-BY-4.0",
    "cc-by-sa-3": "CC-BY-SA-3.0",
    "cc-by-sa-4": "CC-BY-SA-4.0",
    "zlib/libpng": "Zlib",
    "isc license": "ISC",
    "boost": "BSL-1.0",
    "unicode": "Unicode-DFS-2016",
    "ssleay": "SSLeay-standalone",
    "openssl": "OpenSSL",
    "x11": "X11",
    "public-domain": "LicenseRef-public-domain",
    "public domain": "LicenseRef-public-domain",
    "bsd": "LicenseRef-BSD",
}

# PyPI trove classifiers ("License :: OSI Approved :: MIT License") → SPDX; the last segment is the key.
_CLASSIFIERS = {
    "mit license": "MIT",
    "mit no attribution license (mit-0)": "MIT-0",
    "apache software license": "Apache-2.0",
    "bsd license": "LicenseRef-BSD",
    "isc license (iscl)": "ISC",
    "python software foundation license": "PSF-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "mozilla public license 1.1 (mpl 1.1)": "MPL-1.1",
    "gnu general public license v2 (gplv2)": "GPL-2.0-only",
    "gnu general public license v2 or later (gplv2+)": "GPL-2.0-or-later",
    "gnu general public license v3 (gplv3)": "GPL-3.0-only",
    "gnu general public license v3 or later (gplv3+)": "GPL-3.0-or-later",
    "gnu lesser general public license v2 (lgplv2)": "LGPL-2.0-only",
    "gnu lesser general public license v2 or later (lgplv2+)": "LGPL-2.0-or-later",
    "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
    "gnu lesser general public license v3 or later (lgplv3+)": "LGPL-3.0-or-later",
    "gnu library or lesser general public license (lgpl)": "LGPL-2.0-or-later",
    "gnu affero general public license v3": "AGPL-3.0-only",
    "gnu affero general public license v3 or later (agplv3+)": "AGPL-3.0-or-later",
    "the unlicense (unlicense)": "Unlicense",
    "zope public license": "ZPL-2.1",
    "eclipse public license 2.0 (epl-2.0)": "EPL-2.0",
    "academic free license (afl)": "AFL-3.0",
    "historical permission notice and disclaimer (hpnd)": "HPND",
    "universal permissive license (upl)": "UPL-1.0",
    "zlib/libpng license": "Zlib",
    "boost software license 1.0 (bsl-1.0)": "BSL-1.0",
    "cc0 1.0 universal (cc0 1.0) public domain dedication": "CC0-1.0",
    "public domain": "LicenseRef-public-domain",
}

_REF_BAD = re.compile(r"[^A-Za-z0-9.\-]+")
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_OPS = {"and": "AND", "or": "OR", "with": "WITH"}


def license_ref(text: str) -> str:
    """A LicenseRef- for text the SPDX list has no id for (idstring: letters, digits, '.', '-')."""
    s = _REF_BAD.sub("-", text.strip()).strip("-")[:64] or "unknown"
    return f"LicenseRef-{s}"


def lookup(atom: str) -> str | None:
    """One licence name → an SPDX id (or a LicenseRef- alias), or None if unknown."""
    a = atom.strip().strip(",;")
    if not a:
        return None
    if a.startswith("LicenseRef-") or a.startswith("DocumentRef-"):
        return a
    low = a.lower()
    if low in _ALIASES:
        return _ALIASES[low]
    if low in _LOWER:
        return _LOWER[low]
    if low.endswith("+") and low[:-1] in _LOWER:  # "MPL-2.0+" style
        return _LOWER[low[:-1]] + "+"
    return None


def normalize(text: str) -> str | None:
    """A licence field (an id, an alias, an expression such as "GPL-2+ or Artistic") → an SPDX expression.

    Unknown atoms become LicenseRef-…; text that is not an expression at all (a licence's full text) → None.
    """
    text = " ".join(text.split())
    if not text or len(text) > 200:
        return None
    whole = lookup(text)
    if whole:
        return whole
    tokens = _TOKEN.findall(text.replace(",", " "))
    out: list[str] = []
    atom: list[str] = []

    def flush() -> None:
        if atom:
            name = " ".join(atom)
            out.append(lookup(name) or license_ref(name))
            atom.clear()

    for t in tokens:
        low = t.lower()
        if low in _OPS:
            flush()
            out.append(_OPS[low])
        elif t in "()":
            flush()
            out.append(t)
        else:
            atom.append(t)
    flush()
    if not out or out[0] in _OPS.values() or out[-1] in _OPS.values():
        return license_ref(text)
    # `X WITH exception` needs an exception id; an unknown exception folds into one LicenseRef
    i = 1
    while i < len(out) - 1:
        if out[i] == "WITH" and out[i + 1] not in SPDX_IDS:
            exc = out[i + 1].removeprefix("LicenseRef-")
            out[i - 1 : i + 2] = [license_ref(f"{out[i - 1].removeprefix('LicenseRef-')}-with-{exc}")]
        else:
            i += 1
    expr = " ".join(out).replace("( ", "(").replace(" )", ")")
    return expr


def from_classifier(classifier: str) -> str | None:
    parts = [p.strip() for p in classifier.split("::")]
    if len(parts) < 2 or parts[0] != "License":
        return None
    last = parts[-1].lower()
    if last in ("osi approved", "other/proprietary license", "freely distributable"):
        return None
    return _CLASSIFIERS.get(last) or lookup(parts[-1]) or license_ref(parts[-1])


def is_simple_id(expr: str) -> bool:
    """True if `expr` is one id of the SPDX list (so CycloneDX can carry it as `license.id`)."""
    return expr in SPDX_IDS


_COMMON_LICENSES = re.compile(rb"/usr/share/common-licenses/([A-Za-z0-9.+\-]+)")


def from_debian_copyright(data: bytes) -> tuple[str, ...]:
    """Licences named in a Debian copyright file.

    Machine-readable files (DEP-5) give `License:` fields; older free-form files usually point at
    /usr/share/common-licenses/NAME, which is the next best evidence.
    """
    found: list[str] = []
    for line in data.splitlines():
        if line[:8].lower() == b"license:":
            value = line[8:].strip().decode("utf-8", "replace")
            if value:
                expr = normalize(value)
                if expr:
                    found.append(expr)
    if not found:
        for m in _COMMON_LICENSES.finditer(data):
            name = m.group(1).decode("ascii", "replace").rstrip(".")
            expr = lookup(name)
            if expr:
                found.append(expr)
    return tuple(sorted(set(found)))
