"""Sphinx configuration of the vfi_ops docs.

Build (from the repository root, with vfi_ops built: see getting_started.rst):

    pip install -r docs/requirements.txt && python -m sphinx -W --keep-going -b html docs docs/_build/html

Before Sphinx reads the pages, this file

- writes the generated pages under ``docs/_generated/`` (ignored by git): one API
  page per op of ``vfi_ops/_op_list.py`` (its docstring and its picture), the
  commands' ``--help``, and the list of the topic pages (every ``docs/*.rst``
  not listed in index.rst's first table of contents);
- draws the pictures (``docs/gallery.py``) into ``docs/_generated/gallery/``;
- runs every code example: the ``>>>`` examples of every ``docs/*.rst`` page and
  of the docstrings the API pages render, and the ``python`` blocks of README.md.
  A failing example is a warning, which ``-W`` makes an error.

Nothing here or in the extensions used reaches the network.
"""

import contextlib
import doctest
import glob
import importlib
import io
import os
import re
import sys
import tempfile

from sphinx.util import logging

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
GENERATED = os.path.join(DOCS, "_generated")
sys.path.insert(0, ROOT)  # the checkout's vfi_ops: an editable install or an in-place build
sys.path.insert(0, DOCS)

import vfi_ops  # noqa: E402
from vfi_ops._op_list import OPS  # noqa: E402

project = "vfi_ops"
copyright = "the vfi_ops authors"
release = version = vfi_ops.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
exclude_patterns = ["_build", "README.md"]
html_theme = "alabaster"
html_theme_options = {"fixed_sidebar": True, "page_width": "1100px", "sidebar_width": "230px"}
html_static_path = []
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# The commands: (name, module with main(argv)).
COMMANDS = [
    ("vfi-interpolate", "vfi_ops.models.interpolate"),
    ("vfi-evaluate", "vfi_ops.models.evaluate"),
    ("vfi-train", "vfi_ops.models.train"),
]
# The modules whose docstrings the API pages render (their >>> examples run).
DOCUMENTED_MODULES = [
    "vfi_ops",
    "vfi_ops.nn",
    "vfi_ops.reference",
    "vfi_ops.models",
    *[f"vfi_ops.{op}" for op in OPS],
    *[f"vfi_ops.reference.{op}" for op in OPS],
]

logger = logging.getLogger("vfi_ops.docs")


def _write(path, text):
    """Writes text to path unless it holds it already (Sphinx then rereads nothing)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path) and open(path, encoding="utf-8").read() == text:
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _title(text, char="="):
    return f"{text}\n{char * len(text)}\n"


def generate_op_pages():
    """_generated/ops.rst and _generated/ops/<op>.rst, from the op list."""
    import inspect

    nn_classes = [c for c in vars(vfi_ops.nn).values() if inspect.isclass(c) and c.__module__ == "vfi_ops.nn"]
    index = [_title("Operators"), "One page per operator, generated from its docstring.\n"]
    index += [".. toctree::", "   :maxdepth: 1", ""] + [f"   ops/{op}" for op in OPS] + [""]
    _write(os.path.join(GENERATED, "ops.rst"), "\n".join(index))
    for op in OPS:
        # the module whose docstring names the op's function
        module = next((c.__name__ for c in nn_classes if f"vfi_ops.{op}`" in (c.__doc__ or "")), None)
        lines = [
            _title(op),
            f".. image:: /_generated/gallery/{op}.png",
            f"   :alt: what {op} does",
            "",
            "The picture is drawn by ``docs/gallery.py`` when the docs are built.",
            "",
            f".. autofunction:: vfi_ops.{op}",
            "",
            f"Pure-PyTorch reference: :func:`vfi_ops.reference.{op}`"
            + (f"; module: :class:`vfi_ops.nn.{module}`." if module else "."),
            f" The raw operators are ``torch.ops.vfi_ops.{op}`` and ``torch.ops.vfi_ops.{op}_backward``.",
            "",
            _title("Reference", "-"),
            f".. autofunction:: vfi_ops.reference.{op}",
            "",
        ]
        _write(os.path.join(GENERATED, "ops", f"{op}.rst"), "\n".join(lines))


def command_help(module_name):
    """The --help text of a command (its main(argv) exits after printing it)."""
    module = importlib.import_module(module_name)
    out = io.StringIO()
    os.environ["COLUMNS"] = "100"
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        module.main(["--help"])
    return out.getvalue()


def generate_commands():
    lines = [
        _title("Commands"),
        'The three commands installed with the package (``pip install --no-build-isolation ".[models]"``).',
        "Each ``--help`` below is generated from the command's argument parser when the docs are built.",
        "",
    ]
    for name, module in COMMANDS:
        text = command_help(module)
        lines += [_title(name, "-"), f"``{name}`` is also ``python -m {module}``.", "", ".. code-block:: text", ""]
        lines += ["   " + line if line.strip() else "" for line in text.splitlines()] + [""]
    _write(os.path.join(GENERATED, "commands.rst"), "\n".join(lines))


def generate_topics():
    """_generated/topics.rst: every docs/*.rst page that index.rst does not list itself."""
    index = open(os.path.join(DOCS, "index.rst"), encoding="utf-8").read()
    listed = set(re.findall(r"^   ([\w/]+)$", index, flags=re.M))
    pages = sorted(
        os.path.splitext(os.path.basename(p))[0]
        for p in glob.glob(os.path.join(DOCS, "*.rst"))
        if os.path.splitext(os.path.basename(p))[0] not in listed | {"index"}
    )
    lines = [_title("More topics")]
    if pages:
        lines += [".. toctree::", "   :maxdepth: 1", ""] + [f"   /{p}" for p in pages] + [""]
    else:
        lines += ["No other pages yet.", ""]
    _write(os.path.join(GENERATED, "topics.rst"), "\n".join(lines))


def draw_pictures():
    import gallery

    gallery.render_all(os.path.join(GENERATED, "gallery"))


# ---------------------------------------------------------------- the examples


def _run_doctests(tests, where):
    """Runs doctest cases; returns a list of failure reports."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in tests:
        if not test.examples:
            continue
        out = io.StringIO()
        result = runner.run(test, out=out.write)
        if result.failed:
            failures.append(f"{where}: {test.name}\n{out.getvalue()}")
    return failures


def readme_blocks():
    """The ```python blocks of README.md, in order."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def rst_blocks(text):
    """The bodies of a page's ``.. code-block:: python`` (or ``.. code:: python``) blocks."""
    blocks = []
    for m in re.finditer(r"^( *)\.\. code(?:-block)?:: python\n((?:\1 +:.*\n)*)\n((?:\1 +.*\n|\n)+)", text, flags=re.M):
        lines = m.group(3).rstrip("\n").split("\n")
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        blocks.append("\n".join(line[indent:] for line in lines) + "\n")
    return blocks


def _run_blocks(blocks, where):
    """Runs code blocks in order, in one namespace, in a scratch folder; returns failure reports."""
    failures, namespace, cwd = [], {"__name__": "example"}, os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:  # examples that write files write them here
        os.chdir(scratch)
        try:
            for i, block in enumerate(blocks):
                try:
                    exec(compile(block, f"{where}, python block {i + 1}", "exec"), namespace)
                except Exception as err:  # reported as a warning: -W fails the build
                    failures.append(f"{where}, python block {i + 1}: {type(err).__name__}: {err}")
        finally:
            os.chdir(cwd)
    return failures


def run_examples():
    failures = []
    parser, finder = doctest.DocTestParser(), doctest.DocTestFinder()
    for path in sorted(glob.glob(os.path.join(DOCS, "*.rst"))):
        text = open(path, encoding="utf-8").read()
        name = os.path.relpath(path, ROOT)
        failures += _run_doctests([parser.get_doctest(text, {}, name, path, 0)], name)
        failures += _run_blocks(rst_blocks(text), name)
    for module_name in DOCUMENTED_MODULES:
        module = importlib.import_module(module_name)
        failures += _run_doctests(finder.find(module, module_name, globs={}), module_name)
    failures += _run_blocks(readme_blocks(), "README.md")
    for failure in failures:
        logger.warning("example failed: %s", failure)
    logger.info(f"examples: {len(failures)} failed")


def check_readme_op_table():
    """Every op of the list has a row in the README's op table."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    for op in OPS:
        if not re.search(rf"^\| \[?`{op}`", text, flags=re.M):
            logger.warning("README.md's op table has no row for %s", op)


def prepare(app):
    generate_op_pages()
    generate_commands()
    generate_topics()
    draw_pictures()
    check_readme_op_table()
    run_examples()


def setup(app):
    app.connect("builder-inited", prepare)
    return {"parallel_read_safe": True}
