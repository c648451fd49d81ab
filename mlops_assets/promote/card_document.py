"""A model card as a document (sections of paragraphs, tables, lists and images), rendered to
markdown and to standalone HTML by the same model, so the markdown shown in Dagster's UI and the
HTML file on disk always carry the same content.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from mlops_assets.evaluate.plots import png_data_uri, png_markdown


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Verdict:
    passed: bool


Inline = str | Code | Strong | Verdict
Rich = Inline | tuple[Inline, ...]


@dataclass(frozen=True)
class Paragraph:
    content: Rich


@dataclass(frozen=True)
class Subheading:
    text: str


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Rich, ...], ...]
    numeric_columns: frozenset[int] = frozenset()


@dataclass(frozen=True)
class BulletList:
    items: tuple[Rich, ...]


@dataclass(frozen=True)
class Image:
    name: str
    path: Path


Block = Paragraph | Subheading | Table | BulletList | Image


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Document:
    title: str
    notice: str | None
    sections: tuple[Section, ...]


# --- markdown -----------------------------------------------------------------------------------


def render_markdown(document: Document, *, inline_images: bool = True) -> str:
    """Render the card as GitHub-style markdown, the form Dagster's metadata shows.

    With ``inline_images`` the PNGs are embedded as base64 data URIs, so the markdown stands
    alone; without, images are links to the plot file names, for a folder that holds them.
    """
    lines = [f"# {_markdown_text(document.title)}", ""]
    notice = document.notice
    if notice:
        lines += [f"> **{_markdown_text(notice)}**", ""]
    for section in document.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _markdown_block(block, inline_images=inline_images)
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_block(block: Block, *, inline_images: bool) -> list[str]:
    if isinstance(block, Paragraph):
        return [_markdown_rich(block.content, in_table=False)]
    if isinstance(block, Subheading):
        return [f"### {_markdown_text(block.text)}"]
    if isinstance(block, BulletList):
        return [f"- {_markdown_rich(item, in_table=False)}" for item in block.items]
    if isinstance(block, Table):
        return _markdown_table(block)
    if isinstance(block, Image):
        if inline_images:
            return [png_markdown(block.path, alt=block.name)]
        return [f"![{_markdown_text(block.name)}]({quote(block.path.name)})"]
    raise TypeError(f"unknown block {block!r}")


def _markdown_table(table: Table) -> list[str]:
    def row_line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    separators = [
        "---:" if index in table.numeric_columns else "---" for index in range(len(table.headers))
    ]
    lines = [
        row_line([_markdown_text(header, in_table=True) for header in table.headers]),
        row_line(separators),
    ]
    for row in table.rows:
        lines.append(row_line([_markdown_rich(cell, in_table=True) for cell in row]))
    return lines


def _markdown_rich(content: Rich, *, in_table: bool) -> str:
    inlines = content if isinstance(content, tuple) else (content,)
    rendered = "".join(_markdown_inline(inline, in_table=in_table) for inline in inlines)
    return " ".join(rendered.split()) if in_table else rendered


def _markdown_inline(inline: Inline, *, in_table: bool) -> str:
    if isinstance(inline, str):
        return _markdown_text(inline, in_table=in_table)
    if isinstance(inline, Code):
        return _markdown_code(inline.text, in_table=in_table)
    if isinstance(inline, Strong):
        return f"**{_markdown_text(inline.text, in_table=in_table)}**"
    if isinstance(inline, Verdict):
        return "**PASS**" if inline.passed else "**FAIL**"
    raise TypeError(f"unknown inline {inline!r}")


def _markdown_text(text: str, *, in_table: bool = False) -> str:
    """Escape HTML so renderers that allow raw HTML show, not run, strings from upstream."""
    escaped = html.escape(text, quote=False)
    return escaped.replace("|", "\\|") if in_table else escaped


def _markdown_code(text: str, *, in_table: bool) -> str:
    # GitHub tables split cells on "|" even inside code spans; "\|" there renders as "|".
    body = text.replace("|", "\\|") if in_table else text
    if "`" not in body:
        return f"`{body}`"
    return f"`` {body} ``"


# --- HTML ---------------------------------------------------------------------------------------

_HTML_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0; background: #f6f8fa; line-height: 1.5; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 32px; background: #ffffff; }
h1 { font-size: 1.8em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.3em; }
h2 { font-size: 1.35em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { font-size: 1.1em; margin-top: 1.2em; }
p { white-space: pre-line; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em;
       background: #eff1f3; padding: 0.1em 0.3em; border-radius: 4px; overflow-wrap: anywhere; }
.verdict { font-weight: 700; padding: 0 0.4em; border-radius: 4px; }
.pass { color: #116329; background: #dafbe1; }
.fail { color: #82071e; background: #ffebe9; }
.notice { border-left: 4px solid #bf8700; background: #fff8c5; padding: 8px 12px; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
""".strip()

# Forbids scripts and any network fetch even if a string ever slipped past escaping.
_CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render_html(document: Document) -> str:
    """Render the card as one standalone HTML page: inline CSS, images as data URIs, no scripts.

    The machines have no internet, so the page must not reference any external resource.
    """
    title = html.escape(document.title)
    body = [f"<h1>{title}</h1>"]
    notice = document.notice
    if notice:
        body.append(f'<p class="notice"><strong>{html.escape(notice)}</strong></p>')
    for section in document.sections:
        anchor = html.escape(section.title.lower().replace(" ", "-"))
        body.append(f'<section id="{anchor}">')
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body += [_html_block(block) for block in section.blocks]
        body.append("</section>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f"<style>\n{_HTML_STYLE}\n</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_html_rich(block.content)}</p>"
    if isinstance(block, Subheading):
        return f"<h3>{html.escape(block.text)}</h3>"
    if isinstance(block, BulletList):
        items = "".join(f"<li>{_html_rich(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Image):
        name = html.escape(block.name)
        source = html.escape(png_data_uri(block.path))
        return f'<figure><img src="{source}" alt="{name}"></figure>'
    raise TypeError(f"unknown block {block!r}")


def _html_table(table: Table) -> str:
    header = "".join(f"<th>{html.escape(text)}</th>" for text in table.headers)
    rows = []
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{_html_rich(cell)}</td>'
            if index in table.numeric_columns
            else f"<td>{_html_rich(cell)}</td>"
            for index, cell in enumerate(row)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _html_rich(content: Rich) -> str:
    inlines = content if isinstance(content, tuple) else (content,)
    return "".join(_html_inline(inline) for inline in inlines)


def _html_inline(inline: Inline) -> str:
    if isinstance(inline, str):
        return html.escape(inline)
    if isinstance(inline, Code):
        return f"<code>{html.escape(inline.text)}</code>"
    if isinstance(inline, Strong):
        return f"<strong>{html.escape(inline.text)}</strong>"
    if isinstance(inline, Verdict):
        verdict = "pass" if inline.passed else "fail"
        return f'<span class="verdict {verdict}">{verdict.upper()}</span>'
    raise TypeError(f"unknown inline {inline!r}")
