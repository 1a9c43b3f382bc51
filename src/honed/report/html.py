"""report.html: the page a person reads. Rendered from summary.json's data (schema honed.summary/v1).

Self-contained (inline CSS, no scripts, no external requests), every value escaped, deterministic. Sections:
verdict, before/after vulnerabilities by severity, size and packages, test results per phase, repair rounds,
the removed packages with their vulnerabilities and the evidence that let them go, and provenance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN")

_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--mut:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
margin:0 auto;max-width:1100px;padding:24px}h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;
border-bottom:1px solid var(--line);padding-bottom:4px}.mut{color:var(--mut)}code,.mono{font:13px ui-monospace,
SFMono-Regular,Menlo,monospace;word-break:break-all}table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}th{background:var(--bg)}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:170px;background:var(--bg)}
.card b{display:block;font-size:22px}.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
.verdict{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}.verdict.ok{background:#dafbe1}
.verdict.bad{background:#ffebe9}.sev{display:inline-block;padding:0 6px;border-radius:4px;font-size:12px;
font-weight:600;margin:1px}.CRITICAL{background:#ffd8d3;color:#82071e}.HIGH{background:#ffe2c2;color:#7a3e00}
.MEDIUM{background:#fff1b3;color:#6b4b00}.LOW{background:#ddf4ff;color:#0a3069}.NEGLIGIBLE,.UNKNOWN{background:#eaeef2;
color:#424a53}pre{background:var(--bg);border:1px solid var(--line);padding:8px;white-space:pre-wrap;font-size:12px;
max-height:300px;overflow:auto}details summary{cursor:pointer}
"""


def _e(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


def human_bytes(n: Any) -> str:
    try:
        x = float(n)
    except (TypeError, ValueError):
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(x) < 1000 or unit == "GB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1000
    return f"{x:.1f} GB"


def _sev_counts(d: Mapping[str, Any] | None) -> dict[str, int]:
    d = d or {}
    return {s: int(d.get(s, 0) or 0) for s in SEVERITIES}


def _pct(before: float, after: float) -> str:
    if not before:
        return ""
    return f" ({(before - after) / before * 100:.0f}% less)" if after <= before else " (more)"


def _driver_rows(drivers: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for d in drivers:
        ok = bool(d.get("ok"))
        status = '<span class="ok">pass</span>' if ok else '<span class="bad">FAIL</span>'
        code = d.get("exit_code")
        tail = str(d.get("output_tail") or "")
        out = f"<details><summary>output</summary><pre>{_e(tail)}</pre></details>" if tail else ""
        rows.append(
            f"<tr><td>{_e(d.get('kind'))}</td><td class=mono>{_e(d.get('command'))}</td><td>{status}</td>"
            f"<td class=n>{_e('—' if code is None else code)}</td><td class=n>{float(d.get('seconds') or 0):.1f} s</td>"
            f"<td>{out}</td></tr>"
        )
    return "".join(rows)


def _put_back(r: Mapping[str, Any]) -> str:
    restored = r.get("restored") or []
    if restored:
        return _e(", ".join(restored))
    suggested = r.get("suggested") or []
    if suggested:
        return f"<span class=warn>evidence points at {_e(', '.join(suggested))}; not put back (no rounds left)</span>"
    return "<span class=mut>nothing: no evidence links the failure to a removed package</span>"


def _most_common(values: Sequence[Any]) -> str:
    counts: dict[str, int] = {}
    for v in values:
        if v:
            counts[str(v)] = counts.get(str(v), 0) + 1
    if not counts:
        return ""
    best = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return best[0] if best[1] > 1 else ""


def write_html(summary: Mapping[str, Any]) -> bytes:
    s = summary
    inp = s.get("input_image") or {}
    out = s.get("hardened_image") or {}
    vul = s.get("vulnerabilities") or {}
    before, after, removed = _sev_counts(vul.get("before")), _sev_counts(vul.get("after")), _sev_counts(vul.get("removed"))
    ver = s.get("verification") or {}
    gate = s.get("gate") or {}
    pk = s.get("packages") or {}
    by = s.get("bytes") or {}
    parts: list[str] = []
    a = parts.append
    a("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>")
    a('<meta name=viewport content="width=device-width,initial-scale=1">')
    # No scripts, no external loads: the page must render the same offline and inside CI artifact viewers.
    a("<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'\">")
    a(f"<title>honed hardening report — {_e(inp.get('ref'))}</title><style>{_CSS}</style></head><body>")
    a(f"<h1>Hardening report</h1><div class=mut>{_e(inp.get('ref'))} → {_e(out.get('ref'))}</div>")

    verified = bool(ver.get("ok"))
    gate_ok = gate.get("passed", True)
    reps = int(ver.get("repairs", 0) or 0)
    if verified:
        a('<div class="verdict ok">Hardened image verified: the tests pass on it'
          + (f" after {reps} repair round(s)" if reps else "") + ".</div>")
    else:
        a('<div class="verdict bad">Verification failed: the hardened image breaks the tests. '
          "No image was tagged for promotion.</div>")
    if gate.get("fail_on") and gate_ok:
        a(f'<div class="verdict ok">Gate --fail-on {_e(gate.get("fail_on"))} passed.</div>')
    elif not gate_ok:
        a(f'<div class="verdict bad">Gate failed: {_e(gate.get("blocking", 0))} finding(s) at or above '
          f"{_e(gate.get('fail_on'))} remain in the hardened image (the report below is complete).</div>")

    tb, ta = int(vul.get("before_total", sum(before.values())) or 0), int(vul.get("after_total", sum(after.values())) or 0)
    a("<div class=cards>")
    a(f"<div class=card>Vulnerabilities<b>{tb} → {ta}</b><span class=mut>{_e(_pct(tb, ta).strip(' ()'))}</span></div>")
    bb, ba = by.get("before"), by.get("after")
    a(f"<div class=card>Image size<b>{_e(human_bytes(bb))} → {_e(human_bytes(ba))}</b>"
      f"<span class=mut>{_e(_pct(float(bb or 0), float(ba or 0)).strip(' ()'))}</span></div>")
    a(f"<div class=card>Packages<b>{_e(pk.get('before', '—'))} → {_e(pk.get('after', '—'))}</b>"
      f"<span class=mut>{_e(pk.get('removed', 0))} removed</span></div>")
    rounds = s.get("repair_rounds") or []
    a(f"<div class=card>Repair rounds<b>{_e(ver.get('repairs', 0))}</b><span class=mut>"
      f"{_e(len(s.get('restored_packages') or []))} package(s) put back</span></div>")
    a("</div>")

    a("<h2>Vulnerabilities by severity</h2><table><tr><th>severity</th><th class=n>before</th>"
      "<th class=n>after</th><th class=n>removed</th></tr>")
    for sev in SEVERITIES:
        if before[sev] or after[sev] or removed[sev]:
            a(f'<tr><td><span class="sev {sev}">{sev}</span></td><td class=n>{before[sev]}</td>'
              f"<td class=n>{after[sev]}</td><td class=n>{removed[sev]}</td></tr>")
    a(f"<tr><th>total</th><th class=n>{sum(before.values())}</th><th class=n>{sum(after.values())}</th>"
      f"<th class=n>{sum(removed.values())}</th></tr></table>")
    a("<p class=mut>Counted as findings (vulnerability × package) reported by the baseline and hardened scans. "
      "Removed = findings of the baseline that the hardened scan no longer reports.</p>")

    a("<h2>Tests</h2>")
    for phase in s.get("tests") or []:
        drivers = phase.get("drivers") or []
        npass = sum(1 for d in drivers if d.get("ok"))
        a(f"<h3>{_e(phase.get('phase'))} <span class=mut>({npass}/{len(drivers)} passed)</span></h3>")
        a("<table><tr><th>kind</th><th>command</th><th>result</th><th class=n>exit</th><th class=n>time</th>"
          "<th></th></tr>")
        a(_driver_rows(drivers))
        a("</table>")

    if rounds:
        a("<h2>Repair rounds</h2><table><tr><th class=n>round</th><th>failed</th><th>evidence</th>"
          "<th>put back</th></tr>")
        for r in rounds:
            ev = "".join(f"<li><code>{_e(x)}</code></li>" for x in (r.get("evidence") or [])[:30])
            a(f"<tr><td class=n>{_e(r.get('round'))}</td><td class=mono>{_e(', '.join(r.get('failed') or []))}</td>"
              f"<td><ul>{ev}</ul></td><td>{_put_back(r)}</td></tr>")
        a("</table>")

    rem = list(s.get("removed_packages") or [])
    a(f"<h2>Removed packages ({len(rem)})</h2>")
    if rem:
        # The evidence sentence and rule are usually the same for every package: say them once.
        common_ev = _most_common([p.get("evidence") for p in rem])
        common_rule = _most_common([p.get("rule") for p in rem])
        if common_ev:
            a(f"<p>Unless a row says otherwise: <i>{_e(common_ev)}</i> — rule <i>{_e(common_rule)}</i>.</p>")
        flagged = [p for p in rem if p.get("flags")]
        if flagged:
            a("<p class=warn>Worth a look (removals that are legitimate for a runtime image but easy to miss): "
              + ", ".join(f"<b>{_e(p.get('name'))}</b> ({_e(', '.join(p.get('flags') or []))})" for p in flagged)
              + ".</p>")
        # Packages that took vulnerabilities with them first, worst first.
        def rank(p: Mapping[str, Any]) -> tuple[int, int, str]:
            sev = [SEVERITIES.index(v.get("severity")) if v.get("severity") in SEVERITIES else len(SEVERITIES)
                   for v in (p.get("vulnerabilities") or [])]
            return (min(sev) if sev else len(SEVERITIES) + 1, -len(sev), str(p.get("name")))

        own_col = any(p.get("evidence") != common_ev or p.get("rule") != common_rule for p in rem)
        a("<table><tr><th>package</th><th>version</th><th class=n>size</th><th class=n>files</th>"
          "<th>vulnerabilities that left with it</th>" + ("<th>evidence / rule</th>" if own_col else "") + "</tr>")

        def vrank(v: Mapping[str, Any]) -> tuple[int, str]:
            sv = v.get("severity")
            return (SEVERITIES.index(sv) if sv in SEVERITIES else len(SEVERITIES), str(v.get("id")))

        for p in sorted(rem, key=rank):
            vs = sorted(p.get("vulnerabilities") or [], key=vrank)
            vtxt = "".join(
                f'<span class="sev {_e(v.get("severity", "UNKNOWN"))}" title="{_e(v.get("severity"))}">{_e(v.get("id"))}</span>'
                for v in vs
            ) or '<span class=mut>none</span>'
            ev = "" if p.get("evidence") == common_ev else _e(p.get("evidence"))
            rule = "" if p.get("rule") == common_rule else _e(p.get("rule"))
            flags = "".join(f' <span class="sev UNKNOWN">{_e(f)}</span>' for f in (p.get("flags") or []))
            a(f"<tr><td><b>{_e(p.get('name'))}</b>{flags}<div class='mut mono'>{_e(p.get('purl'))}</div></td>"
              f"<td class=mono>{_e(p.get('version'))}</td><td class=n>{_e(human_bytes(p.get('bytes')))}</td>"
              f"<td class=n>{_e(p.get('files'))}</td><td>{vtxt}</td>"
              + (f"<td>{ev}{'<br>' if ev and rule else ''}{rule}</td>" if own_col else "") + "</tr>")
        a("</table>")
    restored = s.get("restored_packages") or []
    if restored:
        a("<h2>Put back by the repair loop</h2><table><tr><th>package</th><th class=n>round</th><th>why</th></tr>")
        for p in restored:
            a(f"<tr><td><b>{_e(p.get('name'))}</b></td><td class=n>{_e(p.get('round'))}</td>"
              f"<td>{_e(p.get('reason'))}</td></tr>")
        a("</table>")

    a("<h2>Provenance</h2><table>")
    tool = s.get("tool") or {}
    sign = s.get("signing") or {}
    rows = [
        ("tool", f"{tool.get('name', 'honed')} {tool.get('version', '')}"),
        ("advisory database", (s.get("database") or {}).get("digest")),
        ("input image", f"{inp.get('ref', '')} {inp.get('digest', '')}"),
        ("hardened image", f"{out.get('ref', '')} {out.get('digest', '')}"),
        ("pushed as", out.get("pushed") or "—"),
        ("signing key", f"{sign.get('keyid', '')}" + (" (ephemeral: integrity only, not identity)" if sign.get("ephemeral") else "")),
    ]
    for k, v in rows:
        a(f"<tr><th>{_e(k)}</th><td class=mono>{_e(v)}</td></tr>")
    a("</table><p class=mut>Check this record with <code>honed record verify DIR --key PUB</code>.</p>")
    a("</body></html>\n")
    return "".join(parts).encode()
