"""
Find tests that need POSIX but do not say so: the check behind tests/unit/test_posix_markers.py.

A *use* is a name Windows lacks (``signal.SIGKILL``, ``os.getuid``, ``fcntl``...), a SIGTERM
or SIGINT sent to a process, ``preexec_fn``, a symbolic link, an assert on a POSIX mode (an
octal literal or ``stat.S_IMODE``), a ``#!`` script, or a POSIX program run by name
(``bash``, ``sh``, ``make``...; on Windows a bare ``bash`` may start WSL's ``bash.exe``,
found in System32 before PATH). A use is covered by ``@pytest.mark.posix(reason)`` on the
test, its class or its module (``pytestmark``), by an enclosing ``if``/``skipif`` that tests
``sys.platform`` or ``os.name``, or by ``pytest.param(..., marks=<posix>)``. A helper,
fixture, class or constant with an uncovered use passes it on to every function that names
it (in its module, by import, by fixture argument), and a test that ends up with one is a
finding. A name Windows lacks used at module level is a finding even in a marked module:
Windows imports the module to collect it before any mark can skip it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

POSIX_MODULES = frozenset(
    {"fcntl", "resource", "pwd", "grp", "termios", "pty", "tty", "posix", "syslog", "crypt"}
)
POSIX_NAMES = frozenset(
    {
        *(
            f"signal.{name}"
            for name in (
                "SIGKILL",
                "SIGPIPE",
                "SIGHUP",
                "SIGQUIT",
                "SIGUSR1",
                "SIGUSR2",
                "SIGALRM",
                "SIGCHLD",
                "SIGSTOP",
                "SIGCONT",
                "SIGTSTP",
                "SIGWINCH",
                "alarm",
                "setitimer",
                "pthread_kill",
                "pthread_sigmask",
            )
        ),
        *(
            f"os.{name}"
            for name in (
                "mkfifo",
                "mknod",
                "makedev",
                "getuid",
                "geteuid",
                "getgid",
                "getegid",
                "getgroups",
                "chown",
                "lchown",
                "fchown",
                "setsid",
                "setpgrp",
                "getpgid",
                "killpg",
                "fork",
                "forkpty",
                "openpty",
                "sysconf",
                "statvfs",
                "getloadavg",
                "O_NOFOLLOW",
                "O_NONBLOCK",
            )
        ),
        "socket.AF_UNIX",
    }
)
# Sent to a process these have no POSIX meaning on Windows: send_signal(SIGTERM) is
# TerminateProcess, SIGINT is refused (subprocess.Popen.send_signal).
SENT_SIGNALS = frozenset({"signal.SIGTERM", "signal.SIGINT"})
POSIX_PROGRAMS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "make", "cat", "touch", "kill", "sleep", "env"}
)
PLATFORM_TESTS = frozenset({"sys.platform", "os.name", "platform.system"})
OCTAL = re.compile(r"0[oO][0-7]+")


@dataclass(frozen=True)
class Finding:
    """
    A test that reaches a POSIX-only use without the marker or a platform guard.
    """

    path: str
    line: int
    test: str
    use: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.test} {self.use} without "
            '@pytest.mark.posix("reason") or a sys.platform guard'
        )


@dataclass
class Unit:
    """
    A test, or what a test may reach: a helper, fixture, class or module-level constant.
    """

    name: str
    line: int
    is_test: bool
    marked: bool
    uses: list[tuple[int, str]]
    refers_to: set[str]
    fixtures: set[str] = field(default_factory=set)


@dataclass
class Module:
    """
    One test module: its units, its fixtures, its imports and its names for the posix mark.
    """

    path: str
    dotted: str
    source: str
    tree: ast.Module
    marked: bool = False
    units: dict[str, Unit] = field(default_factory=dict)
    fixture_names: dict[str, str] = field(default_factory=dict)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)
    aliases: set[str] = field(default_factory=set)
    import_time: list[tuple[int, str]] = field(default_factory=list)


def dotted_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted_name(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return dotted_name(node.func)
    return ""


def is_posix_mark(node: ast.AST, aliases: Iterable[str]) -> bool:
    """
    Return whether *node* is ``pytest.mark.posix(...)``, an alias of one, or a list of marks
    holding one.
    """
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(is_posix_mark(element, aliases) for element in node.elts)
    if isinstance(node, ast.Call) and dotted_name(node.func) in ("pytest.mark.posix", "mark.posix"):
        return True
    return isinstance(node, ast.Name) and node.id in set(aliases)


def covers(node: ast.AST, aliases: Iterable[str]) -> bool:
    """
    Return whether the decorator or ``pytestmark`` value *node* keeps its test off Windows:
    the posix mark, or a ``skipif`` whose condition tests the platform.
    """
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(covers(element, aliases) for element in node.elts)
    if (
        isinstance(node, ast.Call)
        and dotted_name(node.func).endswith("skipif")
        and node.args
        and tests_platform(node.args[0])
    ):
        return True
    return is_posix_mark(node, aliases)


def tests_platform(node: ast.AST) -> bool:
    return any(
        dotted_name(sub) in PLATFORM_TESTS or dotted_name(sub).startswith("sys.platform.")
        for sub in ast.walk(node)
    )


def uses_in(node: ast.AST, source: str, aliases: set[str]) -> Iterator[tuple[int, str]]:
    """
    Yield (line, what) for each POSIX-only use under *node* that no guard covers.
    """
    yield from _visit(node, source, aliases, in_assert=False)


def _visit(
    node: ast.AST, source: str, aliases: set[str], *, in_assert: bool
) -> Iterator[tuple[int, str]]:
    if _guards(node, aliases):
        return
    in_assert = in_assert or isinstance(node, ast.Assert)
    found = list(_uses_of(node, source, in_assert=in_assert))
    yield from found
    if found and isinstance(node, (ast.Attribute, ast.JoinedStr)):
        return  # said once: not again for `signal` in `signal.SIGKILL`
    yield from _guarded_body(list(ast.iter_child_nodes(node)), source, aliases, in_assert=in_assert)


def _guards(node: ast.AST, aliases: set[str]) -> bool:
    if isinstance(node, (ast.If, ast.IfExp, ast.While)):
        return tests_platform(node.test)
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return _posix_param(node.elt, aliases)  # one pytest.param(..., marks=<posix>) per item
    if isinstance(node, ast.Call):
        return _posix_param(node, aliases) or dotted_name(node.func).endswith("skipif")
    return False


def _uses_of(node: ast.AST, source: str, *, in_assert: bool) -> Iterator[tuple[int, str]]:
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Call):
        yield from _call_uses(node, in_assert=in_assert)
    elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        if dotted_name(node) in POSIX_NAMES:
            yield line, f"uses {dotted_name(node)}"
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        for module in modules:
            if (module or "").split(".")[0] in POSIX_MODULES:
                yield line, f"imports {module}"
    elif isinstance(node, ast.Constant):
        yield from _constant_uses(node, source, in_assert=in_assert)
    elif isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        first = node.elts[0]
        if isinstance(first, ast.Constant) and _is_posix_program(first.value):
            yield line, f"runs the POSIX program {first.value!r}"
    elif isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and str(first.value).startswith("#!"):
            yield line, "writes a #! script"


def _constant_uses(
    node: ast.Constant, source: str, *, in_assert: bool
) -> Iterator[tuple[int, str]]:
    if isinstance(node.value, str) and node.value.startswith("#!"):
        yield node.lineno, "writes a #! script"
    elif in_assert and isinstance(node.value, str) and OCTAL.fullmatch(node.value):
        yield node.lineno, f"asserts the POSIX mode {node.value}"
    elif in_assert and isinstance(node.value, int):
        text = ast.get_source_segment(source, node) or ""
        if OCTAL.fullmatch(text):
            yield node.lineno, f"asserts the POSIX mode {text}"


def _posix_param(node: ast.AST, aliases: set[str]) -> bool:
    return (
        isinstance(node, ast.Call)
        and dotted_name(node.func) == "pytest.param"
        and any(k.arg == "marks" and is_posix_mark(k.value, aliases) for k in node.keywords)
    )


def _guarded_body(
    children: list[ast.AST], source: str, aliases: set[str], *, in_assert: bool
) -> Iterator[tuple[int, str]]:
    # `if sys.platform == "win32": pytest.skip(...)` (or return) guards what follows it.
    for child in children:
        yield from _visit(child, source, aliases, in_assert=in_assert)
        if isinstance(child, ast.If) and tests_platform(child.test) and _exits(child.body):
            return


def _exits(body: list[ast.stmt]) -> bool:
    last = body[-1]
    if isinstance(last, (ast.Return, ast.Raise)):
        return True
    return isinstance(last, ast.Expr) and dotted_name(last.value) in ("pytest.skip", "skip")


def _call_uses(node: ast.Call, *, in_assert: bool) -> Iterator[tuple[int, str]]:
    name = dotted_name(node.func)
    if name == "os.kill" or name.endswith(".send_signal"):
        for arg in node.args:
            if dotted_name(arg) in SENT_SIGNALS:
                yield node.lineno, f"sends {dotted_name(arg)}"
    if name in ("os.symlink",) or name.endswith(".symlink_to"):
        yield node.lineno, "makes a symbolic link (O_NOFOLLOW and privileges are POSIX's)"
    if in_assert and name == "stat.S_IMODE":
        yield node.lineno, "asserts a POSIX mode (stat.S_IMODE)"
    if any(keyword.arg == "preexec_fn" for keyword in node.keywords):
        yield node.lineno, "passes preexec_fn"
    first = node.args[0] if node.args else None
    if isinstance(first, ast.Constant) and str(first.value).startswith(("/bin/", "/usr/bin/")):
        yield node.lineno, f"runs the POSIX program {first.value!r}"


def _is_posix_program(value: object) -> bool:
    return isinstance(value, str) and (
        value in POSIX_PROGRAMS or value.startswith(("/bin/", "/usr/bin/"))
    )


def scan(root: Path, paths: Iterable[Path]) -> list[Finding]:
    """
    Return the findings of the test modules *paths* (under *root*, the repository).
    """
    modules = [_read(path, root) for path in sorted(paths)]
    return _findings({module.dotted: module for module in modules})


def scan_source(source: str, dotted: str = "tests.unit.test_probe") -> list[Finding]:
    """
    Return the findings of one module given as text (the check's own probes).
    """
    module = _parse(source, f"{dotted.replace('.', '/')}.py", dotted)
    return _findings({dotted: module})


def _read(path: Path, root: Path) -> Module:
    relative = path.relative_to(root)
    parts = relative.with_suffix("").parts
    dotted = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return _parse(path.read_text(encoding="utf-8"), relative.as_posix(), dotted)


def _parse(source: str, path: str, dotted: str) -> Module:
    tree = ast.parse(source)
    module = Module(path, dotted, source, tree)
    package = dotted if path.endswith("__init__.py") else dotted.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                module.imports[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(node, ast.Assign) and is_posix_mark(node.value, ()):
            module.aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return module


def _findings(modules: dict[str, Module]) -> list[Finding]:
    for module in modules.values():
        for local, (source, name) in module.imports.items():
            if source in modules and name in modules[source].aliases:
                module.aliases.add(local)
    for module in modules.values():
        _units(module)
    carried: dict[tuple[str, str], list[tuple[int, str]]] = {}
    findings: list[Finding] = []
    for module in modules.values():
        # Run while Windows collects the module, before any mark can skip it.
        findings.extend(
            Finding(module.path, line, "<module>", use) for line, use in module.import_time
        )
        for unit in module.units.values():
            if not unit.is_test:
                continue
            for line, use in _carried(module, unit, modules, carried, set())[:1]:
                findings.append(Finding(module.path, line, unit.name, use))
    return findings


def _units(module: Module) -> None:
    aliases = module.aliases
    loose: list[ast.stmt] = []
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _add_function(module, node, node.name, marked=False)
        elif isinstance(node, ast.ClassDef):
            marked = any(covers(d, aliases) for d in node.decorator_list) or any(
                _assigns(stmt, "pytestmark") and covers(stmt.value, aliases)
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
            )
            rest = [
                stmt
                for stmt in node.body
                if not (
                    isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and node.name.startswith("Test")
                    and stmt.name.startswith("test")
                )
            ]
            _add(module, node.name, node, rest, is_test=False, marked=marked)
            if node.name.startswith("Test"):
                for stmt in node.body:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        stmt.name.startswith("test")
                    ):
                        unit = _add_function(module, stmt, f"{node.name}.{stmt.name}", marked)
                        unit.refers_to.add(node.name)
        elif isinstance(node, ast.Assign) and _assigns(node, "pytestmark"):
            module.marked = covers(node.value, aliases)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    unit = _add(module, target.id, node, [node], is_test=False, marked=False)
                    module.import_time.extend(_missing_names(unit.uses))
        else:
            loose.append(node)
    # Module-level statements (an `import fcntl` at the top) concern every test in it.
    unit = _add(module, "<module>", module.tree, loose, is_test=False, marked=False)
    module.import_time.extend(_missing_names(unit.uses))


def _missing_names(uses: list[tuple[int, str]]) -> list[tuple[int, str]]:
    return [(line, use) for line, use in uses if use.startswith(("uses ", "imports "))]


def _assigns(node: ast.Assign, name: str) -> bool:
    return any(isinstance(target, ast.Name) and target.id == name for target in node.targets)


def _add_function(
    module: Module, node: ast.FunctionDef | ast.AsyncFunctionDef, name: str, marked: bool
) -> Unit:
    marked = marked or any(covers(d, module.aliases) for d in node.decorator_list)
    unit = _add(module, name, node, [node], is_test=node.name.startswith("test"), marked=marked)
    unit.fixtures = {arg.arg for arg in node.args.args + node.args.kwonlyargs}
    for decorator in node.decorator_list:
        if dotted_name(decorator) in ("pytest.fixture", "fixture"):
            named = [
                k.value.value
                for k in getattr(decorator, "keywords", [])
                if k.arg == "name" and isinstance(k.value, ast.Constant)
            ]
            module.fixture_names[str(named[0]) if named else node.name] = name
    return unit


def _add(
    module: Module, name: str, node: ast.AST, body: list[ast.stmt], *, is_test: bool, marked: bool
) -> Unit:
    uses = [use for stmt in body for use in uses_in(stmt, module.source, module.aliases)]
    refers_to = {loaded for stmt in body for loaded in _names_loaded(stmt)}
    refers_to.discard(name)
    unit = Unit(name, getattr(node, "lineno", 1), is_test, marked, uses, refers_to)
    module.units[name] = unit
    return unit


def _names_loaded(node: ast.AST) -> Iterator[str]:
    # A type annotation runs nothing: `RECIPES: dict[str, Recipe]` does not reach Recipe.
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        yield node.id
    for field_name, value in ast.iter_fields(node):
        if field_name in ("annotation", "returns"):
            continue
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, ast.AST):
                yield from _names_loaded(child)


def _carried(
    module: Module,
    unit: Unit,
    modules: dict[str, Module],
    memo: dict[tuple[str, str], list[tuple[int, str]]],
    visiting: set[tuple[str, str]],
) -> list[tuple[int, str]]:
    """
    Return the uncovered uses *unit* makes itself or reaches through what it names.
    """
    key = (module.dotted, unit.name)
    if key in memo:
        return memo[key]
    if unit.marked or module.marked or key in visiting:
        return []
    visiting.add(key)
    found = list(unit.uses)
    for target_module, target in _referents(module, unit, modules):
        for _line, use in _carried(target_module, target, modules, memo, visiting)[:1]:
            found.append((unit.line, f"{use} (through {target.name})"))
    visiting.discard(key)
    memo[key] = found
    return found


def _referents(
    module: Module, unit: Unit, modules: dict[str, Module]
) -> Iterator[tuple[Module, Unit]]:
    for name in sorted(unit.refers_to):
        if name in module.units and not module.units[name].is_test:
            yield module, module.units[name]
        elif name in module.imports:
            source, original = module.imports[name]
            if source in modules and original in modules[source].units:
                yield modules[source], modules[source].units[original]
    for argument in sorted(unit.fixtures):
        for candidate in _fixture_scopes(module, modules):
            if argument in candidate.fixture_names:
                yield candidate, candidate.units[candidate.fixture_names[argument]]
                break


def _fixture_scopes(module: Module, modules: dict[str, Module]) -> Iterator[Module]:
    # pytest looks for a fixture in the module, then in each conftest.py up the tree.
    yield module
    package = module.dotted.rpartition(".")[0]
    while package:
        conftest = modules.get(f"{package}.conftest")
        if conftest is not None and conftest is not module:
            yield conftest
        package = package.rpartition(".")[0]
