"""Delegation: an answer that only calls msglib's own implementation of the exercise scores 0.

* the registry (msglib/grading/delegation.py) names every exercise of solutions/,
  with msglib's twins or the reason it has none, and every twin exists;
* with the twins guarded, every exercise's delegating answers (a wrapper that
  calls the twin, and the twin itself bound to the answer's name) fail every
  test cell of their exercise, with the evidence recorded;
* the reference solutions meet no guard: msglib's own use of the twins (the
  simulations, the checkers' expected answers) still works.

Everything runs in-process through tests/exercise_harness.py, like tests/test_exercises.py.
"""
from __future__ import annotations

import ast
import types
from pathlib import Path

import nbformat
import pytest

from msglib.authoring import cell_role, exercises
from msglib.grading import delegation
from tests.exercise_harness import reference_source, run_module, source_notebooks

NOTEBOOKS = source_notebooks()


def _answer_cells(path: Path) -> dict[str, str]:
    """exercise id → its autograded answer cell's source (exercises with test cells only)."""
    nb = nbformat.read(str(path), as_version=4)
    graded = {ex for ex, entry in exercises(nb).items() if entry["solution"] and (entry["test"] or entry["hidden"])}
    out = {}
    for cell in nb.cells:
        kind, ex, _ = cell_role(cell)
        if kind == "solution" and ex in graded and cell.cell_type == "code":
            out[ex] = reference_source(cell.source)
    return out


def _defined_names(source: str) -> set[str]:
    tree = ast.parse("\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


EXERCISES = {ex: (path, src) for path in NOTEBOOKS for ex, src in _answer_cells(path).items()}


def test_every_exercise_of_solutions_is_registered_with_its_answer_names():
    every = {ex: path for path in NOTEBOOKS for ex in exercises(nbformat.read(str(path), as_version=4))}
    assert every, "no exercises found in solutions/"
    missing = sorted(set(every) - set(delegation.REGISTRY))
    assert not missing, f"add these exercises to msglib/grading/delegation.py's REGISTRY: {missing}"
    stale = sorted(set(delegation.REGISTRY) - set(every))
    assert not stale, f"REGISTRY names exercises that no notebook has any more: {stale}"
    for ex, twin in delegation.REGISTRY.items():
        assert twin.targets or twin.reason, f"{ex}: give its msglib twins, or the reason it has none"
        if ex in EXERCISES:
            assert twin.targets, f"{ex} is autograded: it needs its msglib twins"
            assert set(twin.answers) == _defined_names(EXERCISES[ex][1]), \
                f"{ex}: REGISTRY answers {twin.answers} but the answer cell defines {_defined_names(EXERCISES[ex][1])}"


@pytest.mark.parametrize("exercise", sorted(delegation.REGISTRY))
def test_every_twin_exists_and_is_python_code(exercise):
    for target, fn in delegation.targets_of(exercise):
        assert isinstance(fn, types.FunctionType), f"{target} is not a Python function"
        assert fn.__module__.startswith("msglib"), f"{target} is not msglib's"


def test_an_unknown_exercise_is_refused_with_the_fix():
    with pytest.raises(KeyError, match="delegation registry"):
        delegation.install_stubs(["99-nothing"])
    with pytest.raises(LookupError, match="update"):
        delegation.resolve("msglib.chain:no_such_function")


# -- delegating answers -------------------------------------------------------------------

# Answers that reach a twin in a way a generic wrapper cannot express.
CUSTOM = {
    "06-idempotent_handle": ["from msglib.patterns.idempotent import idempotent, top_up\n"
                             "handle = idempotent(top_up, CONSUMER_ID)\n"],
    "07-apply": ["from msglib.es.aggregate import Aggregate\n\n"
                 "def apply(account, event):\n    Aggregate.apply(account, event)\n"],
    "08-handlers": ["from msglib.cqrs.read_models import UserStats\n\n"
                    "def handle(conn, event):\n    UserStats().handle(conn, event)\n"],
    "10-stored_bytes": ["from msglib.compare.scenarios import storage_snapshot\n\n"
                        "def stored_bytes(broker, published, consumed, message_bytes):\n"
                        "    for seed in range(20):\n"
                        "        snap = storage_snapshot(broker, len(consumed), seed=seed, n_messages=published,\n"
                        "                                message_bytes=message_bytes)\n"
                        "        if list(snap.consumed) == list(consumed):\n"
                        "            return snap.stored_bytes\n"],
    "10-choose_broker": ["from msglib.compare.scenarios import fitting_models\n\n"
                         "def choose_broker(req):\n    fits = fitting_models(req)\n    return fits[0] if fits else None\n"],
    "11-token_bucket": ["from msglib.capstone.ratelimit import TokenBucket as _Twin\n\n"
                        "class TokenBucket(_Twin):\n    pass\n"],
}


def delegating_answers(exercise: str) -> list[tuple[str, str]]:
    """(how, source) answers for ``exercise`` that hand the work to msglib's twin."""
    twin = delegation.REGISTRY[exercise]
    answer = twin.answers[0]
    out = [("custom", src) for src in CUSTOM.get(exercise, [])]
    for target in twin.targets:
        module, _, qualname = target.partition(":")
        if "." in qualname:
            continue                                   # a method: reached through an object, see CUSTOM
        imp = f"from {module} import {qualname} as _msglib_twin\n"
        if not isinstance(delegation.resolve(target), type):
            out.append(("wrapper", imp + f"\ndef {answer}(*args, **kwargs):\n    return _msglib_twin(*args, **kwargs)\n"))
        out.append(("alias", imp + f"{answer} = _msglib_twin\n"))
    return out


@pytest.fixture
def guarded_module():
    """install_stubs for one module's exercises; always undone, so other tests see msglib unchanged."""
    def install(path: Path) -> None:
        delegation.install_stubs(list(exercises(nbformat.read(str(path), as_version=4))))
    yield install
    delegation.uninstall_stubs()
    delegation.clear_record()


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_an_answer_that_calls_msglibs_implementation_scores_zero(exercise, guarded_module):
    path, _ = EXERCISES[exercise]
    answers = delegating_answers(exercise)
    assert answers, f"{exercise}: no delegating answer to try"
    guarded_module(path)
    for how, src in answers:
        delegation.clear_record()
        results = run_module(path, {exercise: src}, only=exercise)
        assert results, f"no test cells ran for {exercise}"
        passed = [gid for gid, (ok, _) in results.items() if ok]
        assert not passed, f"{exercise}: the {how} delegation to msglib still passes {passed}:\n{src}"
        evidence = delegation.recorded_for(exercise)
        assert evidence, f"{exercise}: the {how} delegation failed, but no delegation was recorded: {results}"
        assert all("msglib's own" in msg or "DelegationError" in msg or "your answer" in msg
                   for _, msg in results.values()), results


def test_a_guarded_twin_works_for_msglib_and_the_checkers_but_not_for_other_code():
    """msglib's own calls go through (a simulation's default, a checker's expected answer); a call from
    any other function, like this test, is refused and recorded; uninstalling gives msglib back."""
    from msglib.chain import ChainConfig, call_chain, simulate_rpc
    from msglib.grading import ex04
    from msglib.kraft import policies

    def my_grant_vote(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset,
                      last_epoch, end_offset):
        if candidate_epoch < epoch or voted_for not in (None, candidate):
            return False
        return (candidate_last_epoch, candidate_end_offset) >= (last_epoch, end_offset)

    delegation.install_stubs(["00-call_chain", "04-vote"])
    try:
        assert simulate_rpc(ChainConfig.uniform(3, failure_prob=0.1, duration_ms=200), 1).outcomes
        ex04.check_vote(my_grant_vote)      # compares with msglib's own, runs the quorum and a cluster
        with pytest.raises(delegation.DelegationError, match="msglib's own msglib.kraft.policies"):
            policies.grant_vote(epoch=1, voted_for=None, candidate="c0", candidate_epoch=1, candidate_last_epoch=0,
                                candidate_end_offset=0, last_epoch=0, end_offset=0)
        assert [c.exercise for c in delegation.recorded()] == ["04-vote"]
    finally:
        delegation.uninstall_stubs()
        delegation.clear_record()
    assert call_chain([lambda: 1.0, lambda: 2.0]) == 3.0


@pytest.mark.slow  # every module's checks, hidden ones included
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_reference_solutions_meet_no_guard(path, guarded_module):
    guarded_module(path)
    results = run_module(path)
    assert results
    assert delegation.recorded() == [], f"the reference solution tripped a guard: {delegation.recorded()}"
    tripped = {gid: msg for gid, (ok, msg) in results.items() if "msglib's own" in msg}
    assert not tripped, tripped


# -- setup cells never hand the learner the answer ------------------------------------------

# A twin a setup cell may import, and why.
SETUP_ALLOWED = {
    ("07_event_sourcing", "BankAccount"): "the aggregate the whole module works on (its apply is the exercise, "
                                          "and guarded); every demo and the answer's error message name it",
}


def _setup_imports(path: Path) -> list[tuple[str, object]]:
    """(name, object) for every name a locked cell imports from msglib."""
    import importlib

    nb = nbformat.read(str(path), as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell_role(cell)[0] != "locked":
            continue
        tree = ast.parse("\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("msglib"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    obj = getattr(module, alias.name, None)
                    out.append((alias.name, obj if obj is not None else
                                importlib.import_module(f"{node.module}.{alias.name}")))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_setup_cells_do_not_import_an_exercise_twin_or_its_grader(path):
    nb = nbformat.read(str(path), as_version=4)
    twins = {}
    for ex in exercises(nb):
        for target in delegation.REGISTRY[ex].targets:
            obj = delegation.resolve(target)
            twins[id(getattr(obj, "__wrapped__", obj))] = (ex, target)
            twins[id(obj)] = (ex, target)
    for name, obj in _setup_imports(path):
        assert not (isinstance(obj, types.ModuleType) and obj.__name__.startswith("msglib.grading.")), \
            f"{path.parent.name}: a setup cell imports the grader {obj.__name__}; import it in the test cells"
        if id(obj) in twins and (path.parent.name, name) not in SETUP_ALLOWED:
            ex, target = twins[id(obj)]
            pytest.fail(f"{path.parent.name}: a setup cell imports {name}, msglib's own answer to {ex} ({target}); "
                        "import it in the demo cell that needs it")


def test_a_copy_rebuilt_from_the_twins_original_code_is_refused(guarded_module):
    """The original body is reachable (this module keeps it to restore it): a function rebuilt from it and
    called through the learner's own wrapper is found among the answer's references."""
    path, _ = EXERCISES["00-call_chain"]
    guarded_module(path)
    src = ("import types\nfrom msglib.grading import delegation as _d\n"
           "_code = next(c for f, c in _d._installed.items() if f.__name__ == 'call_chain')\n"
           "_copy = types.FunctionType(_code, {'__builtins__': __builtins__})\n\n"
           "def _helper(calls):\n    return _copy(calls)\n\n"
           "def call_chain(calls):\n    return _helper(calls)\n")
    results = run_module(path, {"00-call_chain": src}, only="00-call_chain")
    assert results and not any(ok for ok, _ in results.values()), results
    assert any("copy of its code" in c.where for c in delegation.recorded_for("00-call_chain")), delegation.recorded()
