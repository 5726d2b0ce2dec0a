"""Writing an audit: ``audit.json``, ``audit.md``, figures, TensorBoard events, a table."""

import json
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from fracture.labels import CLASS_NAMES

AUDIT_FILE = "audit.json"
SUMMARY_FILE = "audit.md"
_MAX_LISTED = 20


def write_report(out_dir: Path, report: dict, figures: dict) -> None:
    """Write the JSON report, its Markdown summary, the figures as PNGs and to TensorBoard."""
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f".{AUDIT_FILE}.tmp"
    partial.write_text(json.dumps(report, indent=2) + "\n")
    partial.replace(out_dir / AUDIT_FILE)
    (out_dir / SUMMARY_FILE).write_text(markdown_summary(report))
    with SummaryWriter(str(out_dir)) as writer:
        writer.add_text("audit/summary", markdown_summary(report))
        for name, figure in figures.items():
            figure.savefig(out_dir / f"{name}.png", dpi=120)
            writer.add_figure(f"audit/{name}", figure)


def markdown_summary(report: dict) -> str:
    """The report's essentials as Markdown: counts, leakage, warnings, unreadable files."""
    lines = [f"# Audit of {report.get('source', 'a dataset')}", "", _headline(report), ""]
    lines += [*_counts_table(report["counts"]), "", *_leakage_table(report["leakage"]), ""]
    lines += ["## Warnings", "", *(f"- {w}" for w in report["warnings"] or ["none"]), ""]
    lines += _clean_lines(report.get("clean_manifest"))
    lines += _unreadable_table(report["unreadable"])
    return "\n".join(lines) + "\n"


def _headline(report: dict) -> str:
    readable = report["files"] - len(report["unreadable"])
    return (
        f"{report['files']} files, {readable} readable, {len(report['unreadable'])} unreadable; "
        f"{len(report['duplicates']['exact'])} exact and {len(report['duplicates']['near'])} "
        f"near-duplicate clusters; {report['seconds']} s ({report['images_per_second']} images/s)"
    )


def _counts_table(counts: dict) -> list[str]:
    header = ["split", *CLASS_NAMES, "total", "fractured %", "unreadable"]
    rows = [
        [
            split,
            *(str(c[name]) for name in CLASS_NAMES),
            str(c["total"]),
            _percent(c),
            str(c["unreadable"]),
        ]
        for split, c in counts.items()
    ]
    return _table(header, rows)


def _percent(counts: dict) -> str:
    fraction = counts["fractured_fraction"]
    return f"{fraction:.1%}" if fraction is not None else "-"


def _leakage_table(leakage: dict) -> list[str]:
    rows = [[pair, str(c["exact"]), str(c["near"])] for pair, c in leakage.items()]
    return _table(["leakage (files of first split)", "exact copies", "near duplicates"], rows)


def _clean_lines(clean: dict | None) -> list[str]:
    if not clean or "error" in clean:
        return []
    how = (
        f"re-split by group at {'/'.join(map(str, clean['ratios']))} (seed {clean['seed']}): "
        f"{clean['given_splits_crossing']:,} files' groups crossed the given splits"
        if clean["splits"] == "regrouped"
        else "the given splits kept"
    )
    rows = [
        [split, *(str(c[name]) for name in CLASS_NAMES), str(c["total"])]
        for split, c in clean["counts"].items()
    ]
    return [
        f"## Clean manifest {clean['path']}",
        "",
        f"{clean['readable']:,} readable files → {clean['groups']:,} groups; {how}; "
        f"{clean['kept']:,} kept, {len(clean['dropped']):,} dropped, "
        f"{clean['crossing']} files in a group that crosses splits.",
        "",
        *_table(["split", *CLASS_NAMES, "total"], rows),
        "",
    ]


def _unreadable_table(unreadable: list[dict]) -> list[str]:
    if not unreadable:
        return []
    rows = [[u["split"], u["path"], u["reason"]] for u in unreadable[:_MAX_LISTED]]
    more = len(unreadable) - _MAX_LISTED
    tail = ["", f"... and {more} more in {AUDIT_FILE}"] if more > 0 else []
    return ["## Unreadable files", "", *_table(["split", "path", "reason"], rows), *tail]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
