"""The package's shape: stages import only the stages below them, modules and scripts stay small."""

import ast
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "stackphot"

# Each module or subpackage of stackphot by its layer: a layer may import its own and the layers before it.
# First the shared foundations, then the source of simulated frames and the datasets, then the stages in
# the order of the pipeline.
LAYERS = [
    {"numerics", "geometry", "options", "provenance", "io", "scripting", "worker"},
    {"simulate"},
    {"inventory"},
    {"datasets"},
    {"ingest", "frames", "defects", "colour"},
    {"background"},
    {"register"},
    {"align"},
    {"stack"},
    # Calibration runs before the background but combines its masters with the stack's combine.
    {"calibrate"},
    {"detect"},
    {"photometry"},
    {"lightcurve"},
    {"regions", "report"},
]
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}
MAX_MODULE_LINES = 450
MAX_SCRIPT_CODE_LINES = 40


def _top_module(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_stackphot_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stackphot."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "stackphot":
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("stackphot."))
    return names


MODULES = sorted(path for path in PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    assert {_top_module(path) for path in MODULES} - {"__init__"} <= set(LAYER_OF)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_module_imports_only_its_own_layer_and_those_below(path):
    own = _top_module(path)
    if own == "__init__":
        return
    above = {name for name in _imported_stackphot_modules(path) if LAYER_OF[name] > LAYER_OF[own]}
    assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}, stages after {own}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_is_over_450_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def _code_lines(path: Path) -> int:
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    source = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            first = node.body[0]
            docstrings.update(range(first.lineno, first.end_lineno + 1))
    code = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.ENDMARKER):
            code.update(range(token.start[0], token.end[0] + 1))
    return len(code - docstrings)


SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))
HAND_OVER = ["from stackphot.worker import hand_over", "hand_over()"]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_a_rule_script_hands_its_job_to_the_warm_worker_before_its_imports(path):
    statements = [ast.unparse(statement) for statement in ast.parse(path.read_text()).body[1:3]]
    # A job of threads of its own (a pool of the script's, no linear algebra's) may say so: the stack's.
    assert statements in (HAND_OVER, [HAND_OVER[0], "hand_over(own_threads=True)"])


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_a_rule_script_reads_calls_and_writes_in_at_most_40_lines(path):
    assert _code_lines(path) - len(HAND_OVER) <= MAX_SCRIPT_CODE_LINES
