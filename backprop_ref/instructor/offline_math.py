"""Math in feedback HTML without MathJax: the lessons' TeX becomes MathML at export time.

Feedback pages must load nothing from the internet, and MathJax comes from a CDN. Browsers render MathML
natively (Chromium 109+, Firefox, Safari), so ``MathToMathML`` rewrites every ``$...$`` and ``$$...$$`` of
the markdown cells before nbconvert renders them, and ``offline_html_exporter`` drops the template's
scripts that would fetch MathJax, require.js, the widget manager or mermaid.
"""
import html
import re

from latex2mathml.converter import convert
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

# Lesson constructs latex2mathml does not know, and what it does know that looks the same.
_SUPPORTED_EQUIVALENTS = [
    # Without this, latex2mathml keeps the environment's body and prints each & as a character.
    (re.compile(r"\\(begin|end)\{aligned\}"), r"\\\1{align*}"),
]

# Outside fenced and indented code: a code span (left alone), an escape such as \$ (left alone),
# display math, inline math (pandoc's rule: no space inside the dollars, no digit after the closing one,
# so "$5 and $10" is not math; no blank line inside).
_SPAN = re.compile(
    r"(?P<code>(?P<ticks>`+).+?(?<!`)(?P=ticks)(?!`))"
    r"|(?P<escape>\\.)"
    r"|\$\$(?P<display>.+?)\$\$"
    r"|\$(?!\s)(?P<inline>(?:[^$\\\n]|\\.|\n(?![ \t]*\n))+?)(?<!\s)\$(?!\d)",
    re.DOTALL,
)
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_INDENTED = re.compile(r"( {4}|\t)")
_LIST_ITEM = re.compile(r" {0,3}([-+*]|\d+[.)])(\s|$)")

# Characters that mean something to markdown (emphasis, code, links, tables, escapes) or to nbconvert's
# own math parser ($): inside MathML or a fallback <code> they are written as character references.
_MARKDOWN_SIGNIFICANT = re.compile(r"[\\`*_\[\]|~$!\n]")
_TEXT_BETWEEN_TAGS = re.compile(r">([^<]+)<")
_RAW_AMPERSAND = re.compile(r"&(?!#?\w+;)")
_MTEXT = re.compile(r"(<mtext[^>]*>)([^<]*)(</mtext>)")


def _markdown_proof(text):
    return _MARKDOWN_SIGNIFICANT.sub(lambda m: f"&#{ord(m[0])};", text)


def _mathml(tex, display):
    for construct, equivalent in _SUPPORTED_EQUIVALENTS:
        tex = construct.sub(equivalent, tex)
    mathml = convert(tex, display=display)
    # in text (\text{max\_iter}, \texttt{dh\_next}) TeX's \_ is an underscore; latex2mathml keeps the backslash
    mathml = _MTEXT.sub(lambda m: m[1] + m[2].replace("\\_", "_") + m[3], mathml)
    # latex2mathml passes unknown commands through as text (\foo) and stray alignment marks as a bare &:
    # treat both as unconvertible rather than show garbage.
    if "\\" in mathml or _RAW_AMPERSAND.search(mathml):
        raise ValueError(f"latex2mathml did not understand {tex!r}")
    mathml = mathml.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "", 1)
    if display == "inline":
        mathml = mathml.replace(' display="inline"', "", 1)
    return _TEXT_BETWEEN_TAGS.sub(lambda m: f">{_markdown_proof(m[1])}<", mathml)


def _replace_math(match):
    if match["code"] or match["escape"]:
        return match[0]
    display = "block" if match["display"] is not None else "inline"
    tex = match["display"] if match["display"] is not None else match["inline"]
    try:
        return _mathml(tex, display)
    except Exception:  # latex2mathml raises many kinds of error on TeX it cannot read
        return f"<code>{_markdown_proof(html.escape(match[0], quote=False))}</code>"


def _prose_and_code(source):
    """Split markdown into (is_code, text) runs, code being fenced blocks and indented code blocks."""
    runs, fence, in_indented_code = [], None, False
    previous, last_text_line = "", ""
    for line in source.splitlines(keepends=True):
        if fence:
            is_code = True
            if re.match(rf" {{0,3}}{fence[0]}{{{len(fence)},}}\s*$", line):
                fence = None
        elif (opening := _FENCE.match(line)):
            fence, is_code = opening[1], True
        elif line.strip() and _INDENTED.match(line):
            # An indented line is code only after a blank line, and not as a continuation of a list item.
            starts_block = not previous.strip() and not (
                _LIST_ITEM.match(last_text_line) or _INDENTED.match(last_text_line)
            )
            in_indented_code = in_indented_code or starts_block
            is_code = in_indented_code
        else:
            in_indented_code = in_indented_code and not line.strip()
            is_code = in_indented_code
        if line.strip() and not is_code:
            last_text_line = line
        if runs and runs[-1][0] == is_code:
            runs[-1][1] += line
        else:
            runs.append([is_code, line])
        previous = line
    return runs


def markdown_with_mathml(source: str) -> str:
    """``source`` with each ``$$...$$`` as ``<math display="block">`` and each ``$...$`` as ``<math>``.

    Code spans, code blocks and ``\\$`` keep their dollars. TeX that latex2mathml cannot convert is kept,
    escaped, in a ``<code>``. Each element is on one line, with no character that markdown would act on.
    """
    runs = _prose_and_code(source)
    return "".join(text if is_code else _SPAN.sub(_replace_math, text) for is_code, text in runs)


class MathToMathML(Preprocessor):
    """Rewrites the math of every markdown cell as MathML (``markdown_with_mathml``)."""

    enabled = Bool(True).tag(config=True)  # nbconvert's Preprocessor is off unless told otherwise

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            cell.source = markdown_with_mathml(cell.source)
        return cell, resources


# Browsers stretch braces and big operators only in a font with an OpenType MATH table: name the ones
# Windows, macOS and Linux ship, before the browser's default.
MATH_FONTS = 'math { font-family: "Cambria Math", "STIX Two Math", "Latin Modern Math", "DejaVu Math TeX Gyre", math; }'

# The lab template without the blocks that load scripts from a CDN: MathJax, require.js (only needed by
# old widget and ipython outputs), the jupyter-widgets manager (the feedback is static) and mermaid.
_OFFLINE_LAB_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block extra_css -%}
<style type="text/css">
""" + MATH_FONTS + """
</style>
{%- endblock extra_css -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def offline_html_exporter() -> HTMLExporter:
    """An HTMLExporter (lab template, CSS inline) whose pages show math as MathML and fetch nothing."""
    # Not embed_images: it re-parses every inline HTML tag on its own, which empties each MathML element.
    exporter = HTMLExporter(template_name="lab", raw_template=_OFFLINE_LAB_TEMPLATE)
    exporter.register_preprocessor(MathToMathML)
    return exporter
