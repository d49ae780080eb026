"""
The package's import graph, function-level imports included: no circle, no import from a
floor up to a higher one, every module placed on a floor, every function-level import of
the package with its reason, and an emulator that uses nothing of the client but its models.
Around the package: it never imports the tests, benchmarks or proof, and no file of the
repository edits `sys.path` (each finds the others from the root, docs/contributing.md).

FLOORS is the one list of layers (docs/contributing.md names them); `make lint` runs this file.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import spatiafi_ops

# Bottom to top. A module may import modules on its own floor or below, never above; a
# circle is refused on any floor. "X.*" places package X and everything in it; a name
# without it places that one module. "__init__" is the package root (its names load lazily).
FLOORS: tuple[tuple[str, ...], ...] = (
    # values and pure helpers; the wings' __init__ files, which import nothing
    (
        "_errors",
        "_clock",
        "_durations",
        "_models",
        "_redaction",
        "_version",
        "credentials",
        "tokens",
        "sinks",
    ),
    # structured log calls, private-file reads, service answers, the bounded transport and
    # its watchdog
    ("_log", "_statefiles", "_responses", "_transport", "_watchdog"),
    # settings (the source-spec grammar too), environment hygiene, atomic private files,
    # the programs we start
    ("_config", "_environ", "_files", "_children"),
    # the credential file format, the token cache, the HTTP client, variable emitters
    ("credentials._credfile", "tokens._cache", "_http", "emit.*"),
    # the service's routes, the AWS adapter (below sinks and sources), the profile store,
    # log set-up
    ("_api", "_aws", "_aws_http", "credentials._store", "_logging"),
    # credentials in use: sources, import (it discards cached tokens); minting; sinks
    ("credentials._sources", "credentials._import", "tokens._mint", "sinks._publish"),
    # the consumer's path (cache, else mint; get_session), doctor, rotation
    ("tokens._consumer", "_doctor", "rotation.*"),
    # the emulator, a service of its own (see test_the_emulator_uses_only_the_models)
    ("emulator.*", "pytest_plugin"),
    # the front doors (aws_rotation: Secrets Manager's, a Lambda handler)
    ("cli.*", "__init__", "__main__", "aws_rotation"),
)
# What the emulator may import of the client: the records it answers with, nothing else.
EMULATOR_MAY_IMPORT = frozenset({"_models"})


@dataclass(frozen=True)
class Arrow:
    """
    One import of a package module by another: where, and whether inside a function.
    """

    source: str
    target: str
    line: int
    in_function: bool
    reason: bool  # a comment on its line, or on the line above its run of imports


def module_names(root: Path) -> dict[str, Path]:
    """
    Return every module under the package directory *root* by its name inside the package.
    """
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts) or "__init__"] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function
        if isinstance(child, ast.If) and _is_type_checking(child):
            continue  # never executed: a type checker's view, not an arrow
        inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        yield from _walk(child, inside)


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _has_reason(lines: Sequence[str], node: ast.stmt) -> bool:
    if "#" in lines[node.end_lineno - 1 if node.end_lineno else node.lineno - 1]:
        return True
    above = node.lineno - 2
    while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
        above -= 1  # one comment may head a run of imports
    return above >= 0 and lines[above].strip().startswith("#")


def arrows(root: Path, package: str) -> list[Arrow]:
    """
    Return every import between modules of the package at *root* (named *package*).
    """
    modules = module_names(root)
    found = []
    for name, path in modules.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        here = [] if name == "__init__" else name.split(".")
        if path.name != "__init__.py":
            here = here[:-1]
        for node, in_function in _walk(ast.parse(text), False):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                base = (node.module or "").split(".") if node.module else []
                if node.level:
                    base = here[: len(here) - node.level + 1] + base
                elif base[:1] == [package]:
                    base = base[1:]
                else:
                    continue
                prefix = ".".join(base)
                wanted = [
                    f"{prefix}.{alias.name}".lstrip(".")
                    if f"{prefix}.{alias.name}".lstrip(".") in modules
                    else prefix or "__init__"
                    for alias in node.names
                ]
            if isinstance(node, ast.Import):
                inside = package + "."
                wanted = [n.removeprefix(inside) for n in wanted if n.startswith(inside)]
            for target_name in dict.fromkeys(wanted):
                target = _resolve(target_name, modules)
                if target is not None and target != name:
                    reason = _has_reason(lines, node)
                    found.append(Arrow(name, target, node.lineno, in_function, reason))
    return found


def floor_of(module: str, floors: Sequence[Sequence[str]]) -> int | None:
    """
    Return the index of the floor that places *module* (its own name before a package's).
    """
    best: tuple[int, int] | None = None  # (how specific, floor)
    for index, floor in enumerate(floors):
        for entry in floor:
            if entry == module:
                return index
            package = entry.removesuffix(".*")
            covers = module == package or module.startswith(package + ".")
            if entry.endswith(".*") and covers and (best is None or len(package) > best[0]):
                best = (len(package), index)
    return None if best is None else best[1]


def circles(found: Sequence[Arrow]) -> list[list[str]]:
    """
    Return the strongly connected sets of more than one module (Tarjan), sorted.
    """
    graph: dict[str, set[str]] = {}
    for arrow in found:
        graph.setdefault(arrow.source, set()).add(arrow.target)
        graph.setdefault(arrow.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    result = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                result.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(result)


def problems(root: Path, package: str, floors: Sequence[Sequence[str]]) -> list[str]:
    """
    Return one sentence per breach of the layering of the package at *root*.
    """
    found = arrows(root, package)
    reported = []
    for module in module_names(root):
        if floor_of(module, floors) is None:
            reported.append(f"{module} is on no floor: place it in FLOORS")
    for arrow in found:
        source, target = floor_of(arrow.source, floors), floor_of(arrow.target, floors)
        where = f"{arrow.source}:{arrow.line}"
        if source is not None and target is not None and target > source:
            reported.append(f"{where} imports {arrow.target} from a higher floor")
        if arrow.in_function and not arrow.reason:
            reported.append(f"{where}: function-level import of {arrow.target} without a reason")
    reported += [f"circle: {' -> '.join(members)}" for members in circles(found)]
    return reported


PACKAGE_ROOT = Path(spatiafi_ops.__file__).parent
REPOSITORY = PACKAGE_ROOT.parent
# What runs the library from a checkout; the library itself never imports it.
AROUND_THE_PACKAGE = frozenset({"tests", "benchmarks", "proof"})
PYTHON_DIRECTORIES = ("spatiafi_ops", "tests", "benchmarks", "proof", "examples", "actions")
_PATH_EDITS = frozenset({"insert", "append", "extend", "remove", "pop", "clear"})


def test_the_package_has_no_circle_and_no_upward_import() -> None:
    """Every module on a floor; every import, at any depth, goes down or sideways."""
    assert problems(PACKAGE_ROOT, "spatiafi_ops", FLOORS) == []


def test_the_emulator_uses_only_the_models() -> None:
    """The emulator shares no code path with the client: nothing but its models."""
    used = {
        arrow.target
        for arrow in arrows(PACKAGE_ROOT, "spatiafi_ops")
        if arrow.source.partition(".")[0] == "emulator"
        and arrow.target.partition(".")[0] != "emulator"
    }
    assert used <= EMULATOR_MAY_IMPORT


def sys_path_edits(source: str) -> list[int]:
    """
    Return the lines of *source* that change `sys.path` (a call on it, or an assignment).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            targets = [t.value if isinstance(t, ast.Subscript) else t for t in targets]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _PATH_EDITS
        ):
            targets = [node.func.value]
        if any(ast.unparse(target) == "sys.path" for target in targets):
            assert isinstance(node, ast.stmt | ast.expr)
            found.append(node.lineno)
    return found


def _absolute_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module] if node.module and not node.level else []


def test_the_package_imports_nothing_that_runs_it() -> None:
    """The library never reaches into its tests, benchmarks or proof, even in a function."""
    reached = [
        f"{path.relative_to(REPOSITORY)}:{node.lineno}"
        for path in sorted(PACKAGE_ROOT.rglob("*.py"))
        for node, _ in _walk(ast.parse(path.read_text(encoding="utf-8")), False)
        if any(name.partition(".")[0] in AROUND_THE_PACKAGE for name in _absolute_names(node))
    ]
    assert reached == []


def test_no_file_edits_sys_path() -> None:
    """Test support, benchmarks and proof import each other from the root, never by path edits."""
    edits = [
        f"{path.relative_to(REPOSITORY)}:{line}"
        for directory in PYTHON_DIRECTORIES
        for path in sorted((REPOSITORY / directory).rglob("*.py"))
        for line in sys_path_edits(path.read_text(encoding="utf-8"))
    ]
    assert edits == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sys\nsys.path.insert(0, 'benchmarks')\n", [2]),
        ("import sys\nsys.path[:0] = ['tests']\n", [2]),
        ("import sys\nsys.path = []\n", [2]),
        ("import sys\nprint(sys.path)\nitems = []\nitems.append(1)\n", []),
    ],
)
def test_the_sys_path_check_fails_on_a_probe(source: str, expected: list[int]) -> None:
    assert sys_path_edits(source) == expected


def test_the_contributor_page_lists_the_same_floors() -> None:
    """docs/contributing.md names the floors FLOORS holds, in the same order."""
    page = (Path(__file__).parents[2] / "docs" / "contributing.md").read_text(encoding="utf-8")
    layers = page.partition("## Layers")[2].partition("\n## ")[0]
    listed = [
        tuple(
            name.rstrip("/").replace("/", ".") + (".*" if name.endswith("/") else "")
            for name in match.group(1).split()
        )
        for match in re.finditer(r"^\d+\. [^`]*`([^`]+)`", layers, re.MULTILINE)
    ]
    assert listed == [tuple(floor) for floor in FLOORS]


def _package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    root = tmp_path / "probe"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


PROBE_FLOORS = (("low",), ("high", "side"), ("__init__", "wing.*"))


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # an upward import, hidden in a function, with a reason
            {
                "low.py": "def f():\n    from .high import g  # lazy\n",
                "high.py": "",
                "side.py": "",
            },
            ["low:2 imports high from a higher floor"],
        ),
        (  # a circle on one floor, through an absolute import
            {"low.py": "", "high.py": "import probe.side\n", "side.py": "from . import high\n"},
            ["circle: high -> side"],
        ),
        (  # a function-level import without its reason
            {
                "low.py": "",
                "high.py": "def f():\n    from .low import x\n",
                "side.py": "",
            },
            ["high:2: function-level import of low without a reason"],
        ),
        (  # a module nobody placed
            {"low.py": "", "high.py": "", "side.py": "", "stray.py": ""},
            ["stray is on no floor: place it in FLOORS"],
        ),
        (  # a wing's module importing the root, downward, with a reason
            {
                "low.py": "",
                "high.py": "",
                "side.py": "",
                "wing/__init__.py": "",
                "wing/_a.py": "def f():\n    # lazy: start-up time\n    from .. import low\n",
            },
            [],
        ),
    ],
)
def test_the_check_fails_on_a_probe(
    tmp_path: Path, files: Mapping[str, str], expected: list[str]
) -> None:
    """A synthetic package with one breach each: the check names exactly that one."""
    assert problems(_package(tmp_path, files), "probe", PROBE_FLOORS) == expected
