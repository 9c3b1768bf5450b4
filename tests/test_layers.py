"""msglib's floors: an import never goes up a floor, and msglib's modules import each other in no cycle.

The floor table below is the one place the floors are defined (CONTRIBUTING.md and docs/layering.md explain
them). A module
may import modules on its own floor or below. Every import counts: module-level, inside a function, and
under ``if TYPE_CHECKING`` (a type is a dependency too). Importing ``a.b.c`` also runs ``a/__init__.py`` and
``a/b/__init__.py``, so those package modules count as imported as well (except the importer's own packages).

Cycles are looked for among the imports that run (``TYPE_CHECKING`` blocks never do), package ``__init__``
modules included: ``x -> pkg.y`` runs ``pkg/__init__``, and when that imports ``x`` back, the first of them
to be imported fails with "partially initialized module".
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "msglib"

# -- the floors, bottom to top ------------------------------------------------------------------------------
FOUNDATION = 0   # the simulation, the log, small helpers: no Kafka protocol, no mechanism
PROTOCOL = 1     # Kafka's messages, error codes and client exceptions (kafka-python's kafka/protocol, errors.py)
MECHANISMS = 2   # brokers, coordinators and their pure decisions (policies); queues, the event store...
CLIENTS = 3      # producer, consumer (subscription state, fetcher, coordinator client), transaction manager
SYSTEMS = 4      # mechanisms and clients put together: a whole Cluster (it hands out clients)
CHECKERS = 5     # judges of histories and runs: they may import mechanisms, never the reverse
RUNNERS = 6      # seeded scenario and workload runners (they run a system, then a checker); applications
PICTURES = 7     # msglib.viz: plots and widgets
COURSE = 8       # grading, authoring, the command line

NAMES = {FOUNDATION: "foundation", PROTOCOL: "protocol", MECHANISMS: "mechanisms", CLIENTS: "clients",
         SYSTEMS: "systems", CHECKERS: "checkers", RUNNERS: "runners", PICTURES: "pictures", COURSE: "course"}

# "pkg.*" covers every module under pkg (not pkg's own __init__); an exact name wins over a pattern,
# a longer pattern over a shorter one.
FLOORS: dict[str, int] = {
    "msglib": FOUNDATION,
    "msglib.sim": FOUNDATION, "msglib.sim.*": FOUNDATION,
    "msglib.log": FOUNDATION, "msglib.log.*": FOUNDATION,
    "msglib.stats": FOUNDATION,
    "msglib.figures": FOUNDATION,

    "msglib.protocol": PROTOCOL, "msglib.protocol.*": PROTOCOL,
    # old import paths, re-exporting msglib.protocol
    "msglib.cluster.protocol": PROTOCOL, "msglib.groups.protocol": PROTOCOL, "msglib.txn.protocol": PROTOCOL,
    "msglib.client.errors": PROTOCOL, "msglib.client.metadata": PROTOCOL, "msglib.groups.errors": PROTOCOL,
    # the Kafka wire protocol's codecs and field tables (msglib serve's bottom half)
    "msglib.wire": PROTOCOL, "msglib.wire.codec": PROTOCOL, "msglib.wire.specs": PROTOCOL,
    "msglib.wire.consumer_protocol": PROTOCOL,

    "msglib.cluster.*": MECHANISMS,            # broker, controller, partition, policies, producer state
    "msglib.groups": MECHANISMS, "msglib.groups.*": MECHANISMS,   # group coordinator, assignors, LocalBroker
    "msglib.coordinator": MECHANISMS, "msglib.coordinator.*": MECHANISMS,  # the one coordinator runtime
    "msglib.txn": MECHANISMS, "msglib.txn.*": MECHANISMS,         # transaction coordinator and its log
    "msglib.chain": MECHANISMS,
    "msglib.queue": MECHANISMS, "msglib.queue.*": MECHANISMS,
    "msglib.dlq": MECHANISMS, "msglib.dlq.*": MECHANISMS,
    "msglib.es": MECHANISMS, "msglib.es.*": MECHANISMS,
    "msglib.cqrs": MECHANISMS, "msglib.cqrs.*": MECHANISMS,
    "msglib.patterns": MECHANISMS, "msglib.patterns.*": MECHANISMS,
    "msglib.streams": MECHANISMS, "msglib.streams.*": MECHANISMS,   # windows, stores, topology, tasks
    "msglib.kraft": MECHANISMS, "msglib.kraft.*": MECHANISMS,   # KRaft quorum, controller, broker view
    "msglib.share": MECHANISMS, "msglib.share.*": MECHANISMS,   # share groups: share-partition, coordinators

    "msglib.client": CLIENTS, "msglib.client.*": CLIENTS,
    "msglib.groups.membership": CLIENTS,       # the consumer's coordinator client
    "msglib.groups.consumer_membership": CLIENTS,   # its KIP-848 counterpart (ConsumerGroupHeartbeat)
    "msglib.share.consumer": CLIENTS,          # KafkaShareConsumer

    "msglib.cluster": SYSTEMS, "msglib.cluster.cluster": SYSTEMS,
    "msglib.kraft.quorum": SYSTEMS,            # three controllers, brokers and faults on one network
    "msglib.wire.*": SYSTEMS,                  # msglib serve: logs and coordinators behind a TCP port
    "msglib.wire.cli": COURSE,                 # its command-line arguments

    "msglib.check": CHECKERS, "msglib.check.*": CHECKERS,

    "msglib.cluster.scenario": RUNNERS, "msglib.groups.workload": RUNNERS,
    "msglib.groups.rebalance_schedules": RUNNERS,   # seeded KIP-848 schedules judged by check.rebalance
    "msglib.groups.protocol_compare": RUNNERS,      # eager vs cooperative vs KIP-848 on one workload
    "msglib.kraft.scenario": RUNNERS,          # seeded quorum runs judged by check.kraft; KIP-966's story
    "msglib.share.scenario": RUNNERS,          # seeded share-group runs judged by check.share
    "msglib.txn.eos": RUNNERS, "msglib.txn.interleaving": RUNNERS,
    "msglib.txn.hanging": RUNNERS,             # the hanging transaction of KIP-890, judged by check.eos
    "msglib.streams.app": RUNNERS,             # stream applications on a Cluster, judged by check.streams
    "msglib.compare": RUNNERS, "msglib.compare.*": RUNNERS,
    "msglib.capstone": RUNNERS, "msglib.capstone.*": RUNNERS,    # the capstone application and its driver
    "msglib.check.notifications": RUNNERS,     # judges the capstone, so it sits on the capstone's floor

    "msglib.viz": PICTURES, "msglib.viz.*": PICTURES,

    "msglib.grading": COURSE, "msglib.grading.*": COURSE,
    "msglib.authoring": COURSE, "msglib.doctor": COURSE, "msglib.cli_args": COURSE, "msglib.__main__": COURSE,
}

# Known exceptions, each with its reason. The test fails when one of them is gone, so the list stays exact.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("msglib.groups.local", "msglib.client.consumer"):
        "LocalBroker.consumer() is a convenience factory for the client that reads its logs. The two refer to "
        "each other in the public API (broker.consumer(); KafkaConsumer(cluster=topic) makes the topic's "
        "LocalBroker), and msglib.groups exports LocalBroker while the consumer imports msglib.groups' "
        "assignors and coordinator client, so the factory imports the consumer when it is called",
    ("msglib.client.embedded", "msglib.cluster.cluster"):
        "kafka-python's clients take only bootstrap_servers, so KafkaProducer/KafkaConsumer/KafkaAdminClient "
        "without cluster= use the process-wide embedded default, a Cluster; default_cluster() imports Cluster "
        "when it first makes it (the Cluster in turn hands out these clients)",
}
ALLOWED_CYCLES: dict[frozenset[str], str] = {
    frozenset({"msglib.log.log", "msglib.log.recovery"}):
        "Log opens through recovery, and recovery rebuilds a Log (msglib/log is being hardened separately)",
    frozenset({"msglib.compare.harness", "msglib.compare.kafka", "msglib.compare.pulsar",
               "msglib.compare.rabbitmq", "msglib.compare.sqs"}):
        "each broker model registers itself with the harness, and run() imports the models to fill the registry",
    frozenset({"msglib.capstone", "msglib.capstone.system", "msglib.check.notifications"}):
        "the capstone's System.check() calls the checker, and the checker replays the capstone's router, "
        "limiter and templates (importing any capstone module runs msglib/capstone/__init__, which imports "
        "system); to remove it, the checker would move into the capstone package",
    frozenset({"msglib.grading.pipeline", "msglib.grading.similarity"}):
        "the batch pipeline runs the similarity report, which looks the repository up with the pipeline's "
        "find_root (both inside functions); find_root could move to a module both import",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def floor_of(module: str) -> int | None:
    if module in FLOORS:
        return FLOORS[module]
    parts = module.split(".")
    for n in range(len(parts) - 1, 0, -1):
        pattern = ".".join(parts[:n]) + ".*"
        if pattern in FLOORS:
            return FLOORS[pattern]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, source: str, modules: dict[str, object] = MODULES) -> list[tuple[str, int, str]]:
    """``(imported msglib module, line, how)`` for every import in ``source``; how: module, function,
    type-checking. Package ``__init__`` modules run by the import are listed too (how + ' (package)')."""
    is_package = str(modules.get(module, "")).endswith("__init__.py")
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int, str]] = []

    def add(target: str, line: int, how: str) -> None:
        while target not in modules and "." in target:
            target = target.rpartition(".")[0]
        if not target.startswith("msglib") or target not in modules or target == module:
            return
        found.append((target, line, how))
        parent = target.rpartition(".")[0]
        while parent and not (module == parent or module.startswith(parent + ".")):
            if parent in modules:
                found.append((parent, line, how + " (package)"))
            parent = parent.rpartition(".")[0]

    def visit(node: ast.AST, how: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for n in child.body:
                    visit_one(n, "type-checking")
                for n in child.orelse:
                    visit_one(n, how)
            else:
                visit_one(child, how)

    def visit_one(child: ast.AST, how: str) -> None:
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            visit(child, "type-checking" if how == "type-checking" else "function")
        elif isinstance(child, ast.Import):
            for alias in child.names:
                add(alias.name, child.lineno, how)
        elif isinstance(child, ast.ImportFrom):
            if child.level:
                base = package.split(".")[:len(package.split(".")) - (child.level - 1)]
                origin = ".".join(base + ([child.module] if child.module else []))
            else:
                origin = child.module or ""
            for alias in child.names:
                name = f"{origin}.{alias.name}"
                add(name if name in modules else origin, child.lineno, how)
        else:
            visit(child, how)

    visit(ast.parse(source), "module")
    return found


IMPORTS = {m: imports_of(m, p.read_text(encoding="utf-8")) for m, p in MODULES.items()}


def _allowed(module: str, target: str, how: str) -> bool:
    """An allowed import, or a package ``__init__`` that an allowed import runs."""
    if (module, target) in ALLOWED_UPWARD:
        return True
    return how.endswith("(package)") and any(m == module and t.startswith(target + ".") for m, t in ALLOWED_UPWARD)


def upward_imports(imports: dict[str, list[tuple[str, int, str]]]) -> list[str]:
    problems = []
    for module, found in imports.items():
        mine = floor_of(module)
        for target, line, how in found:
            theirs = floor_of(target)
            if mine is None or theirs is None or theirs <= mine or _allowed(module, target, how):
                continue
            problems.append(f"{module} (floor {mine}, {NAMES[mine]}) imports {target} (floor {theirs}, "
                            f"{NAMES[theirs]}) at line {line} [{how}]")
    return problems


def cycles(imports: dict[str, list[tuple[str, int, str]]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module, over the imports that run (the allowed upward
    imports left out: a cycle that exists only through one of them is that exception, not a new cycle)."""
    graph = {m: sorted({t for t, _, how in found if not how.startswith("type-checking") and not _allowed(m, t, how)})
             for m, found in imports.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []

    def strongconnect(v: str) -> None:   # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def test_every_module_has_a_floor():
    missing = [m for m in MODULES if floor_of(m) is None]
    assert not missing, (f"no floor for {missing}: add the module (or 'its.package.*') to FLOORS in "
                         f"tests/test_layers.py, on the lowest floor its imports allow")


def test_no_import_goes_up_a_floor():
    problems = upward_imports(IMPORTS)
    assert not problems, ("imports that go up a floor (move the code down, or pass the higher piece in as an "
                          "argument; see 'Layering' in CONTRIBUTING.md):\n  " + "\n  ".join(problems))


def test_no_import_cycle_among_msglib_modules():
    found = [c for c in cycles(IMPORTS) if c not in ALLOWED_CYCLES]
    assert not found, "import cycles:\n  " + "\n  ".join(" <-> ".join(sorted(c)) for c in found)


def test_the_known_exceptions_still_exist():
    """An exception that is no longer needed must leave the list, so it cannot hide a new one later."""
    upward = {(m, t) for m, found in IMPORTS.items() for t, _, _ in found}
    stale = [pair for pair in ALLOWED_UPWARD if pair not in upward]
    stale += [sorted(c) for c in ALLOWED_CYCLES if c not in cycles(IMPORTS)]
    assert not stale, f"remove these exceptions from tests/test_layers.py, they are gone: {stale}"


def test_the_mechanism_imports_no_checker_and_sim_no_viz():
    for module, found in IMPORTS.items():
        for target, line, how in found:
            if module.startswith(("msglib.sim", "msglib.log")):
                assert not target.startswith("msglib.viz"), f"{module}:{line} imports {target}"
            if floor_of(module) <= SYSTEMS:
                assert not target.startswith("msglib.check"), f"{module}:{line} imports the checker {target}"


# -- the checks have teeth: they see what they must see in small made-up modules ----------------------------
FAKE = {"msglib": "msglib/__init__.py", "msglib.sim": "msglib/sim/__init__.py", "msglib.sim.history": "h.py",
        "msglib.viz": "msglib/viz/__init__.py", "msglib.viz.cluster": "c.py",
        "msglib.cluster": "msglib/cluster/__init__.py", "msglib.cluster.cluster": "cc.py",
        "msglib.client": "msglib/client/__init__.py", "msglib.client.producer": "p.py"}


@pytest.mark.parametrize("source", [
    "from msglib.viz.cluster import plot_history\n",
    "def plot(h):\n    from msglib.viz.cluster import plot_history\n    return plot_history(h)\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from msglib.viz import cluster\n",
    "def plot(h):\n    from ..viz import cluster\n",
])
def test_an_upward_import_is_caught_wherever_it_hides(source):
    found = {"msglib.sim.history": imports_of("msglib.sim.history", source, FAKE)}
    problems = upward_imports(found)
    assert problems and "msglib.sim.history (floor 0, foundation) imports msglib.viz" in problems[0]


def test_a_cycle_through_a_package_init_is_caught():
    found = {
        "msglib.client.producer": imports_of("msglib.client.producer", "from msglib.cluster import cluster\n", FAKE),
        "msglib.cluster": imports_of("msglib.cluster", "from msglib.cluster.cluster import Cluster\n", FAKE),
        "msglib.cluster.cluster": imports_of("msglib.cluster.cluster",
                                             "def producer():\n    from msglib.client.producer import P\n", FAKE),
    }
    assert frozenset(found) in cycles(found)
    # under TYPE_CHECKING the import never runs: no cycle
    found["msglib.cluster.cluster"] = imports_of(
        "msglib.cluster.cluster", "if TYPE_CHECKING:\n    from msglib.client.producer import P\n", FAKE)
    assert cycles(found) == []
