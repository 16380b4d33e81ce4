"""Feedback HTML renders the lessons' math as MathML and fetches nothing from the internet."""
import re
from html import escape
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

from backprop_ref.instructor.offline_math import MathToMathML, markdown_with_mathml, offline_html_exporter

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted(ROOT.glob("solutions/*/*.ipynb")) + [ROOT / "course" / "index.ipynb"]
ONE_WEIGHT = ROOT / "solutions" / "01_one_weight" / "one_weight.ipynb"

# A reference the browser would fetch: src=, href=, CSS @import or url(), to http or https.
_REMOTE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?|@import\s+(?:url\()?\s*["']?|\burl\(\s*["']?)\s*https?://""",
    re.IGNORECASE,
)
_CODE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1|(`+).+?\2", re.DOTALL | re.MULTILINE)


def rendered(markdown):
    """What nbconvert's HTML exporter makes of a markdown cell, after the math has become MathML."""
    return HTMLExporter().markdown2html({}, markdown_with_mathml(markdown))


def math_elements(text):
    return re.findall(r"<math\b.*?</math>", text, re.DOTALL)


def fallbacks(markdown_out):
    """Spans left as <code>: the only <code> markdown_with_mathml writes starts with the escaped $."""
    return markdown_out.count("<code>&#36;")


def test_inline_math_becomes_an_inline_math_element():
    out = markdown_with_mathml(r"the error $E = \frac{1}{2N} \sum_n e_n^2$ of the weight")
    [math] = math_elements(out)
    assert out.startswith("the error <math>") and out.endswith("</math> of the weight")
    assert "display=" not in math
    assert "<mfrac><mrow><mn>1</mn></mrow><mrow><mn>2</mn><mi>N</mi></mrow></mfrac>" in math
    assert "<msubsup><mi>e</mi><mi>n</mi><mn>2</mn></msubsup>" in math


def test_display_math_over_several_lines_becomes_one_line_of_block_math():
    out = markdown_with_mathml("It predicts\n\n$$\ny = \\sum_{d=1}^{D}\n  x_d\\, w_d .\n$$\n\nand so on.")
    [math] = math_elements(out)
    assert math.startswith('<math display="block">')
    assert "\n" not in math
    assert "<munderover><mo>&#x02211;</mo>" in math
    assert out.startswith("It predicts\n\n<math") and out.endswith("</math>\n\nand so on.")


def test_code_spans_and_code_blocks_keep_their_dollars():
    source = "Run `echo $HOME $PATH` or ``a `$x$` b``.\n\n```bash\necho $x $y\n```\n\nText:\n\n    cost = $5 + $x$\n"
    assert markdown_with_mathml(source) == source


def test_math_after_a_code_block_is_still_converted():
    out = markdown_with_mathml("```\n$a$\n```\n\nthen $b$\n\n    $c$\n\n- and $d$\n\n    with $e$ (list continuation)")
    assert "```\n$a$\n```" in out and "    $c$" in out
    assert len(math_elements(out)) == 3


def test_escaped_dollars_stay_dollars():
    source = r"It costs \$5, or \$10 for two."
    assert markdown_with_mathml(source) == source
    assert "It costs $5, or $10 for two." in rendered(source)


def test_prices_are_not_math():
    for prose in ["between $5 and $10", "$5,$10 each"]:
        assert markdown_with_mathml(prose) == prose


@pytest.mark.parametrize("tex", [r"$x^$", r"$\frac{1}{$", r"$\unknowncommand{x} < 1$", "$$a & b$$"])
def test_unconvertible_math_falls_back_to_its_escaped_source_in_code(tex):
    out = markdown_with_mathml(f"see {tex} here")
    assert "<math" not in out and fallbacks(out) == 1
    html = rendered(f"see {tex} here")
    assert f"see <code>{escape(tex, quote=False)}</code> here" in html


def test_aligned_is_rendered_as_a_table_of_aligned_rows():
    out = markdown_with_mathml("$$\\begin{aligned} a &= b + c, \\\\ d &= e \\end{aligned}$$")
    assert fallbacks(out) == 0
    [math] = math_elements(out)
    assert math.count("<mtr>") == 2 and "&amp;" not in math and "<mi>&" not in math


def test_markdown_does_not_act_on_characters_inside_math():
    # latex2mathml writes operators as character references, but the insides of \text{...} as they are.
    texts = ["*a", "b*", "_c", "d_", "[x](y)", "`e`", "~~f~~"]
    html = rendered(" and ".join(f"$a_1 * b_2 \\text{{{text}}}$" for text in texts))
    assert not re.search(r"<(em|strong|a|code|del)\b", html)
    assert len(math_elements(html)) == len(texts)
    for text in texts:
        assert f"<mtext>{text}</mtext>" in html


def test_math_in_a_table_cell_keeps_the_table():
    html = rendered("| formula | note |\n|---|---|\n| $|x| + \\|y\\|$ | norms |\n")
    assert html.count("<td>") == 2
    assert re.search(r"<td><math>.*</math></td>\s*<td>norms</td>", html)


def test_the_preprocessor_is_enabled_by_default_and_leaves_code_cells_alone():
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("slope $dE/dw$"), nbformat.v4.new_code_cell("price = '$x$'")]
    )
    assert MathToMathML().enabled
    nb, _ = MathToMathML()(nb, {})
    assert nb.cells[0].source.startswith("slope <math>")
    assert nb.cells[1].source == "price = '$x$'"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_formula_of_the_lessons_converts(path):
    converted, fell_back = 0, []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        out = markdown_with_mathml(cell.source)
        converted += len(math_elements(out))
        fell_back += re.findall(r"<code>&#36;.*?</code>", out)
        left = re.sub(r"\\\$", "", _CODE.sub("", out))
        assert "$" not in left, f"a dollar was not read as math in {cell.source!r}"
    assert fell_back == [], "latex2mathml could not convert these; rewrite them in offline_math._SUPPORTED_EQUIVALENTS"
    if path != ROOT / "course" / "index.ipynb":
        assert converted > 0


@pytest.fixture(scope="module")
def one_weight_html():
    html, _ = offline_html_exporter().from_filename(str(ONE_WEIGHT))
    return html


def test_an_exported_lesson_shows_its_formulas_as_mathml(one_weight_html):
    maths = math_elements(one_weight_html)
    assert len(maths) > 20
    assert any(m.startswith('<math display="block">') and "<mfrac>" in m for m in maths)
    assert "$$" not in one_weight_html
    assert "\\frac" not in one_weight_html


def test_an_exported_lesson_fetches_nothing_and_has_its_css_inline(one_weight_html):
    assert not _REMOTE.search(one_weight_html), _REMOTE.search(one_weight_html)
    assert "mathjax" not in one_weight_html.lower()
    assert "<script" not in one_weight_html
    assert "<link" not in one_weight_html
    assert "<style" in one_weight_html and "--jp-content-font-color1" in one_weight_html


def test_the_default_exporter_would_fetch_mathjax(one_weight_html):
    """The check above can fail: nbconvert's own lab template does load from the CDN."""
    html, _ = HTMLExporter(template_name="lab").from_filename(str(ONE_WEIGHT))
    assert _REMOTE.search(html) and "mathjax" in html.lower()


def test_a_notebook_with_widget_state_fetches_no_widget_manager(tmp_path):
    nb = nbformat.read(ONE_WEIGHT, as_version=4)
    view = {"version_major": 2, "version_minor": 0, "model_id": "abc"}
    state = {"version_major": 2, "version_minor": 0, "state": {"abc": {"model_name": "IntSliderModel", "state": {}}}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", {"application/vnd.jupyter.widget-view+json": view, "text/plain": "IntSlider(value=0)"}
        )
    ]
    path = tmp_path / "with_widgets.ipynb"
    nbformat.write(nb, path)

    html, _ = offline_html_exporter().from_filename(str(path))
    assert "IntSliderModel" in html  # the state is there, as inert data
    assert not _REMOTE.search(html)
    assert "unpkg" not in html and "require.min.js" not in html and "embed-amd" not in html
    default, _ = HTMLExporter(template_name="lab").from_filename(str(path))
    assert "unpkg.com" in default


def test_an_escaped_underscore_in_text_is_an_underscore():
    html = rendered("the budget $s_{\\text{max\\_iter}}$ and $\\texttt{dh\\_next}$")
    assert "<code>" not in html and "\\" not in html, html
    assert len(re.findall(r"<mtext[^>]*>(max|dh)(_|&#95;)(iter|next)</mtext>", html)) == 2, html
