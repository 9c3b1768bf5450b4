"""Flag submission code that tampers with grading, for the instructor to review.

The grader already undoes the common tricks (test cells are restored from the
gradebook, msglib is restored before each test in the independent re-run).
This scan reports the code that *tries* them, so a person looks at it: cells
that assign into msglib, reach for interpreter internals, or swallow the
interrupt the grader uses to stop an endless loop. A flag is a reason to look,
not a verdict; legitimate code rarely trips it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

SUSPICIOUS_CALLS = {
    "setattr": "changes attributes by name",
    "delattr": "deletes attributes by name",
    "exec": "runs code built at run time",
    "eval": "runs code built at run time",
    "compile": "compiles code at run time",
    "__import__": "imports by name",
    "globals": "reaches into the global namespace",
    "vars": "reaches into a namespace",
}
SUSPICIOUS_MODULES = {"importlib", "gc", "ctypes", "inspect", "signal", "builtins", "subprocess",
                      "threading", "multiprocessing", "atexit", "faulthandler", "unittest", "site", "sysconfig",
                      "shutil", "IPython", "_thread", "_signal"}
SUSPICIOUS_ATTRS = {"__code__", "__globals__", "__dict__", "__builtins__", "__class__", "__subclasses__",
                    "_render_traceback_", "__defaults__", "__kwdefaults__", "f_globals", "f_locals", "f_back",
                    "__closure__", "cell_contents", "__setattr__"}
# IPython's hooks into how cells run: a test cell can be rewritten or its failure swallowed
IPYTHON_HOOKS = {"input_transformers_cleanup", "input_transformers_post", "input_transformer_manager",
                 "set_custom_exc", "register_magic_function", "ast_transformers", "run_cell",
                 "showtraceback", "custom_exceptions"}
# attributes that are only suspicious on a particular module (``sys.modules``, ``os._exit``)
SUSPICIOUS_MODULE_ATTRS = {("sys", "modules"), ("sys", "settrace"), ("sys", "setprofile"), ("sys", "exit"),
                           ("sys", "setrecursionlimit"), ("os", "_exit"), ("os", "kill"), ("os", "killpg")}


@dataclass(frozen=True)
class Flag:
    cell: int
    line: int
    reason: str

    def __str__(self) -> str:
        return f"cell {self.cell} line {self.line}: {self.reason}"


class _Scanner(ast.NodeVisitor):
    def __init__(self, cell: int) -> None:
        self.cell = cell
        self.flags: list[Flag] = []
        self.msglib_names: set[str] = {"msglib"}

    def flag(self, node: ast.AST, reason: str) -> None:
        self.flags.append(Flag(self.cell, getattr(node, "lineno", 0), reason))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            root = alias.name.split(".")[0]
            if root == "msglib":
                self.msglib_names.add((alias.asname or alias.name).split(".")[0])
                if "guard" in alias.name:
                    self.flag(node, f"imports {alias.name}, the grader's own safeguard")
            elif root in SUSPICIOUS_MODULES:
                self.flag(node, f"imports {alias.name}")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        root = module.split(".")[0]
        if root == "msglib":
            for alias in node.names:
                self.msglib_names.add(alias.asname or alias.name)
                if alias.name == "guard" or "guard" in module:
                    self.flag(node, "imports the grader's own safeguard (msglib.grading.guard)")
        elif root in SUSPICIOUS_MODULES:
            self.flag(node, f"imports from {module}")
        self.generic_visit(node)

    def _base_name(self, node: ast.AST) -> str | None:
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    def _check_target(self, target: ast.AST, node: ast.AST) -> None:
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            base = self._base_name(target)
            if base in self.msglib_names:
                self.flag(node, f"assigns into msglib ({ast.unparse(target)})")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._check_target(elt, node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_target(target, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._check_target(target, node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in SUSPICIOUS_CALLS:
            self.flag(node, f"calls {node.func.id}() ({SUSPICIOUS_CALLS[node.func.id]})")
        name = node.func.id if isinstance(node.func, ast.Name) else \
            node.func.attr if isinstance(node.func, ast.Attribute) else ""
        builtin_open = name == "open" and (isinstance(node.func, ast.Name) or (
            isinstance(node.func.value, ast.Name) and node.func.value.id in ("io", "builtins", "codecs")))
        if builtin_open:
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"),
                                                                None)
            if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax+"):
                self.flag(node, f"opens a file to write (open(..., {mode.value!r})): an answer writes nothing "
                                "outside its own copy")
        elif name in ("write_text", "write_bytes", "symlink_to", "rmtree"):
            self.flag(node, f"writes or removes files ({name}())")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in IPYTHON_HOOKS:
            self.flag(node, f"reaches into IPython's cell machinery (.{node.attr})")
        elif node.attr in SUSPICIOUS_ATTRS:
            self.flag(node, f"uses .{node.attr}")
        elif isinstance(node.value, ast.Name) and (node.value.id, node.attr) in SUSPICIOUS_MODULE_ATTRS:
            self.flag(node, f"uses {node.value.id}.{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__", "__msglib_guard__"):
            self.flag(node, f"uses {node.id}")
        elif node.id == "get_ipython":
            self.flag(node, "uses get_ipython() (IPython's cell machinery)")

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        names = []
        if node.type is None:
            names = ["a bare except:"]
        else:
            for t in (node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]):
                if isinstance(t, ast.Name) and t.id in ("KeyboardInterrupt", "BaseException", "SystemExit"):
                    names.append(t.id)
        reraises = any(isinstance(n, ast.Raise) for n in ast.walk(ast.Module(body=node.body, type_ignores=[])))
        if names and not reraises:  # cleaning up and re-raising is fine; swallowing is not
            self.flag(node, f"catches {', '.join(names)} without re-raising (can swallow the grader's "
                            "interrupt of an endless loop)")
        self.generic_visit(node)


def scan_source(source: str, cell: int = 0) -> list[Flag]:
    """Flags for one cell of learner code. IPython magics and shell lines are ignored."""
    lines = [ln if not ln.lstrip().startswith(("%", "!")) else "" for ln in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as exc:
        return [Flag(cell, exc.lineno or 0, f"does not parse: {exc.msg}")]
    scanner = _Scanner(cell)
    scanner.visit(tree)
    return scanner.flags


def scan_notebook(nb, release=None) -> list[Flag]:
    """Flags for every code cell the learner could edit (everything but locked and test cells).

    msglib names imported in earlier cells count in later ones, the way the
    kernel sees them. With ``release`` (the released notebook), a cell that is
    still exactly as released (same cell id, same source) is the course's own
    code, a demo that may well start a thread, and is not flagged.
    """
    flags: list[Flag] = []
    known: set[str] = {"msglib"}
    released = {c.get("id"): c.source for c in release.cells} if release is not None else {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        locked = meta.get("locked") or (meta.get("grade") and not meta.get("solution")) \
            or (cell.get("id") in released and released[cell.get("id")] == cell.source)
        lines = [ln if not ln.lstrip().startswith(("%", "!")) else "" for ln in cell.source.splitlines()]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError as exc:
            if not locked:
                flags.append(Flag(index, exc.lineno or 0, f"does not parse: {exc.msg}"))
            continue
        scanner = _Scanner(index)
        scanner.msglib_names |= known
        scanner.visit(tree)
        known |= scanner.msglib_names
        if not locked:
            flags += scanner.flags
    return flags
