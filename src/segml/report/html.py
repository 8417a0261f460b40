"""HTML building blocks of the review pack: sections, findings, tables, figures, the page.

The page is one static HTML document: inline CSS, images as ``data:`` URIs, no script, no
external file, font or style sheet, so it opens the same from a mail attachment, a document
system or a printer. Every text that comes from data is escaped here.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from segml.report.fmt import DASH, is_number, num

__all__ = [
    "Cell",
    "Finding",
    "Section",
    "bullets",
    "columns",
    "details",
    "esc",
    "figure",
    "figures",
    "keyvalues",
    "note",
    "para",
    "render_page",
    "table",
]

Level = Literal["attention", "note", "ok"]


@dataclass(frozen=True)
class Cell:
    """A table cell with its own CSS class (``flag``, ``ok``, ``muted``) and tooltip."""

    text: str
    cls: str = ""
    title: str = ""


@dataclass(frozen=True)
class Finding:
    """One point for the review meeting, raised by a section.

    Parameters
    ----------
    level : {"attention", "note", "ok"}
        ``attention``: the meeting should discuss it; ``note``: context; ``ok``: a check passed.
    text : str
        One plain sentence.
    first : bool
        Listed before every other point of its level (e.g. a model that is unusable).
    """

    level: Level
    text: str
    #: listed before every other point (a model whose predictions are unusable)
    first: bool = False


@dataclass
class Section:
    """One section of the pack: an anchor id, a heading, the plain-language reading, content.

    Parameters
    ----------
    id : str
        HTML id (the table of contents links to it; tests look for it).
    title : str
        Heading, without its number.
    reading : list of str
        Plain sentences generated from the numbers (escaped when rendered).
    blocks : list of str
        HTML fragments (tables, figures) made with this module's helpers.
    findings : list of Finding
        Points for the summary at the top of the pack.
    """

    id: str
    title: str
    reading: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def attention(self, text: str, first: bool = False) -> None:
        """Add a point the meeting should discuss (``first``: before every other point)."""
        self.findings.append(Finding("attention", text, first))

    def ok(self, text: str) -> None:
        """Add a check that passed."""
        self.findings.append(Finding("ok", text))


def esc(x: Any) -> str:
    """HTML-escaped text of ``x``."""
    return html.escape(str(x), quote=True)


def para(text: str, cls: str = "") -> str:
    """A paragraph of plain text."""
    c = f' class="{esc(cls)}"' if cls else ""
    return f"<p{c}>{esc(text)}</p>"


def note(text: str) -> str:
    """A muted paragraph (what is missing from the run, how a number was computed)."""
    return para(text, "note")


def bullets(items: Iterable[str]) -> str:
    """An unordered list of plain texts."""
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def details(summary: str, body_html: str) -> str:
    """A collapsible block (opens without script; printed collapsed)."""
    return f"<details><summary>{esc(summary)}</summary>{body_html}</details>"


def _cell(value: Any, fmt: Callable[[Any], str] | None) -> tuple[str, str, str]:
    if isinstance(value, Cell):
        return value.text, value.cls, value.title
    if fmt is not None:
        return fmt(value), "", ""
    if value is None or (isinstance(value, float) and not is_number(value)):
        return DASH, "", ""
    if isinstance(value, bool):
        return ("yes" if value else "no"), "", ""
    if isinstance(value, int | float):
        return num(value), "", ""
    return str(value), "", ""


def table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]] | None = None,
    *,
    fmt: Mapping[str, Callable[[Any], str]] | None = None,
    caption: str = "",
    cls: str = "",
) -> str:
    """An HTML table.

    Parameters
    ----------
    rows : sequence of mappings
        One mapping per row.
    columns : sequence of (key, label), optional
        Which keys to show, in order, and their headings (default: the first row's keys).
    fmt : mapping of key to callable, optional
        Formatter per column (a :class:`Cell` value bypasses it).
    caption, cls : str
        Table caption and CSS class.
    """
    if not rows:
        return note("(no rows)")
    cols = list(columns) if columns is not None else [(k, k) for k in rows[0]]
    fmt = fmt or {}
    head = "".join(f"<th>{esc(label)}</th>" for _, label in cols)
    body = []
    for row in rows:
        cells = []
        for key, _ in cols:
            text, ccls, title = _cell(row.get(key), fmt.get(key))
            numeric = is_number(row.get(key)) and not isinstance(row.get(key), bool)
            classes = " ".join(c for c in (ccls, "num" if numeric else "") if c)
            attrs = (f' class="{classes}"' if classes else "") + (
                f' title="{esc(title)}"' if title else ""
            )
            cells.append(f"<td{attrs}>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    c = f' class="{esc(cls)}"' if cls else ""
    return (
        f'<div class="table-wrap"><table{c}>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def keyvalues(pairs: Sequence[tuple[str, Any]], caption: str = "") -> str:
    """A two-column table of labels and values (values shown as text)."""
    rows = [{"k": k, "v": Cell(DASH if v is None else str(v))} for k, v in pairs]
    return table(rows, [("k", "item"), ("v", "value")], caption=caption, cls="kv")


def figure(uri: str | None, caption: str, *, wide: bool = False) -> str:
    """An embedded image (``uri`` is a ``data:image/png;base64`` URI) with its caption."""
    if not uri:
        return note(f"(figure not available: {caption})")
    if not uri.startswith("data:image/"):
        raise ValueError("the pack embeds images only as data: URIs")
    cls = ' class="wide"' if wide else ""
    return (
        f'<figure{cls}><img src="{uri}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def figures(*items: str) -> str:
    """Figures side by side (two per row on a wide page; a lone figure keeps a readable width)."""
    items = tuple(i for i in items if i)
    cls = "figs"
    if len(items) == 1:
        cls += " full" if items[0].startswith('<figure class="wide"') else " one"
    return f'<div class="{cls}">' + "".join(items) + "</div>"


def columns(*blocks: str) -> str:
    """Small blocks (tables) next to each other, wrapping on a narrow page."""
    return '<div class="cols">' + "".join(f"<div>{b}</div>" for b in blocks if b) + "</div>"


CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --accent:#1e3a8a; --bad:#b91c1c;
        --badbg:#fef2f2; --good:#166534; --goodbg:#f0fdf4; --notebg:#f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Arial, "Noto Sans CJK SC",
       sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; }
header.pack { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 16px; }
header.pack h1 { margin: 0 0 4px; font-size: 26px; color: var(--accent); }
header.pack .meta { color: var(--muted); font-size: 13px; }
nav.toc { background: var(--notebg); border: 1px solid var(--line); padding: 10px 16px;
          margin: 16px 0; font-size: 14px; columns: 3; }
nav.toc a { color: var(--accent); text-decoration: none; display: block; }
section { border-top: 1px solid var(--line); padding-top: 8px; margin-top: 28px; }
h2 { color: var(--accent); font-size: 21px; margin: 8px 0 8px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.reading { background: #eef2ff; border-left: 4px solid var(--accent); padding: 8px 14px;
           margin: 8px 0 12px; }
.reading p { margin: 4px 0; }
p.note { color: var(--muted); font-size: 13px; margin: 4px 0; }
.table-wrap { overflow-x: auto; margin: 6px 0 12px; }
table { border-collapse: collapse; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
         vertical-align: top; }
th { background: var(--notebg); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; }
td.flag { background: var(--badbg); color: var(--bad); font-weight: 600; }
td.ok { color: var(--good); }
td.muted { color: var(--muted); }
.figs { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 12px;
        margin: 8px 0 12px; }
.figs.one { grid-template-columns: minmax(0, 760px); }
.figs.full { grid-template-columns: minmax(0, 1fr); }
.cols { display: flex; flex-wrap: wrap; gap: 8px 36px; align-items: flex-start; }
figure { margin: 0; border: 1px solid var(--line); padding: 6px; background: #fff; }
figure.wide { grid-column: 1 / -1; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; }
ul.findings { list-style: none; padding: 0; margin: 8px 0; }
ul.findings li { padding: 4px 10px; margin: 3px 0; border-left: 4px solid var(--line);
                 background: var(--notebg); font-size: 14px; }
ul.findings li.attention { border-color: var(--bad); background: var(--badbg); }
ul.findings li.first { font-weight: 700; }
ul.findings li.ok { border-color: var(--good); background: var(--goodbg); }
ul.findings li a { color: inherit; }
.badge { font-size: 11px; font-weight: 700; text-transform: uppercase; margin-right: 6px; }
pre { background: var(--notebg); border: 1px solid var(--line); padding: 10px; font-size: 12px;
      overflow-x: auto; }
details summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; border-top: 1px solid var(--line);
         padding-top: 8px; }
@media print { main { max-width: none; padding: 0; } section { break-before: page; }
               nav.toc { display: none; } figure { break-inside: avoid; } }
"""


def _summary(sections: Sequence[Section]) -> str:
    order = {"attention": 0, "note": 1, "ok": 2}
    items = sorted(
        ((f, s) for s in sections for f in s.findings),
        key=lambda fs: (order[fs[0].level], not fs[0].first),
    )
    if not items:
        return ""
    lis = "".join(
        f'<li class="{f.level}{" first" if f.first else ""}"><span class="badge">{esc(f.level)}</span>'
        f'<a href="#{esc(s.id)}">{esc(f.text[:1].upper() + f.text[1:])}</a></li>'
        for f, s in items
    )
    n = sum(f.level == "attention" for f, _ in items)
    head = f"Points for the review ({n} need attention)"
    return f'<section id="summary"><h2>{esc(head)}</h2><ul class="findings">{lis}</ul></section>'


def render_page(
    title: str, meta: Sequence[str], sections: Sequence[Section], footer: str = ""
) -> str:
    """The whole document: header, table of contents, points for the review, sections."""
    toc = "".join(
        f'<a href="#{esc(s.id)}">{i}. {esc(s.title)}</a>' for i, s in enumerate(sections, 1)
    )
    body = []
    for i, s in enumerate(sections, 1):
        reading = "".join(para(r[:1].upper() + r[1:]) for r in s.reading)
        body.append(
            f'<section id="{esc(s.id)}"><h2>{i}. {esc(s.title)}</h2>'
            + (f'<div class="reading">{reading}</div>' if reading else "")
            + "".join(s.blocks)
            + "</section>"
        )
    meta_html = "<br>".join(esc(m) for m in meta)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f'<header class="pack"><h1>{esc(title)}</h1><div class="meta">{meta_html}</div></header>'
        f'<nav class="toc">{toc}</nav>'
        f"{_summary(sections)}{''.join(body)}"
        f"<footer>{esc(footer)}</footer></main></body></html>\n"
    )
