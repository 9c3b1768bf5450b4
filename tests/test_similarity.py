"""Copied answers are listed for the instructor; independent ones are not (msglib/grading/similarity.py)."""
from __future__ import annotations

import csv

import nbformat

from msglib.grading import similarity
from tests.conftest import ROOT, make_course

MODULE = "00_why_messaging"
NB = f"{MODULE}.ipynb"

HONEST_A = '''def call_chain(calls):
    """Call each hop in order and return the total latency in ms; a ServiceDown must reach the caller."""
    total = 0.0
    for call in calls:
        total += call()
    return total
'''
HONEST_B = '''def call_chain(calls):
    """Call each hop in order and return the total latency in ms; a ServiceDown must reach the caller."""
    waited = [hop() for hop in calls]   # stops at the first failure
    if not waited:
        return 0.0
    return float(sum(waited))
'''
HONEST_C = '''def call_chain(calls):
    """Call each hop in order and return the total latency in ms; a ServiceDown must reach the caller."""
    def go(rest, acc):
        if not rest:
            return acc
        return go(rest[1:], acc + rest[0]())
    return go(list(calls), 0)
'''
LONGER = '''def call_chain(calls):
    """Call each hop in order and return the total latency in ms; a ServiceDown must reach the caller."""
    latency_so_far = 0.0
    hops_done = 0
    for index, hop in enumerate(calls):
        elapsed = hop()             # raises ServiceDown: propagate
        latency_so_far += elapsed
        hops_done = hops_done + 1
        if hops_done != index + 1:
            raise RuntimeError("skipped a hop")
    return latency_so_far
'''
RENAMED = '''def call_chain(calls):
    """my version"""
    # add up the time of each service
    t = 0.0
    h = 0
    for i, f in enumerate(calls):
        x = f()
        t += x
        h = h + 1
        if h != i + 7:
            raise ValueError("oops, missed one")
    return t
'''


def test_renaming_and_rewording_do_not_hide_a_copy():
    a = similarity.fingerprints(similarity.normalise(LONGER))
    b = similarity.fingerprints(similarity.normalise(RENAMED))
    assert similarity.normalise(LONGER)[5:] != [] and similarity.containment(a, b) == 1.0


def test_independent_answers_are_not_alike():
    for x, y in ((HONEST_A, HONEST_B), (HONEST_A, HONEST_C), (HONEST_B, HONEST_C), (HONEST_A, LONGER)):
        fx = similarity.fingerprints(similarity.normalise(x))
        fy = similarity.fingerprints(similarity.normalise(y))
        stub = similarity.fingerprints(similarity.normalise(
            'def call_chain(calls):\n    """Call each hop in order and return the total latency in ms; '
            'a ServiceDown must reach the caller."""\n    raise NotImplementedError()\n'))
        assert similarity.containment(fx - stub, fy - stub) < similarity.THRESHOLD, (x, y)


def test_a_batch_lists_the_copy_and_not_the_honest_pair(tmp_path):
    course = make_course(tmp_path, [MODULE])
    release = nbformat.read(str(ROOT / "notebooks" / MODULE / NB), as_version=4)

    def submit(student, source, *, strip=False, name=NB):
        nb = nbformat.read(str(ROOT / "notebooks" / MODULE / NB), as_version=4)
        next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "00-call_chain").source = source
        if strip:
            for c in nb.cells:
                c.metadata = {}
        folder = course / "submitted" / student / MODULE
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / name))

    submit("ana", LONGER)
    submit("bob", RENAMED, strip=True, name="renamed.ipynb")   # metadata gone: matched by its def
    submit("cai", HONEST_B)
    submit("dan", HONEST_C)
    (course / "submitted" / "eve" / MODULE).mkdir(parents=True)
    nbformat.write(release, str(course / "submitted" / "eve" / MODULE / NB))   # unanswered: not compared
    pairs = similarity.report(course, [MODULE])
    flagged = {frozenset((p.a, p.b)) for p in pairs if p.suspicious and p.exercise == "00-call_chain"}
    assert frozenset(("ana", "bob")) in flagged
    assert not any({"cai", "dan"} & set(p) and not {"solutions/", "msglib:msglib.chain:call_chain"} & set(p)
                   for p in flagged), flagged
    assert not any("eve" in p for p in flagged)
    rows = list(csv.DictReader((course / "grades" / "similarity.csv").open()))
    assert {"ana", "bob"} in [{r["a"], r["b"]} for r in rows if r["suspicious"] == "True"]
    page = (course / "grades" / "similarity.html").read_text()
    assert "ana" in page and "bob" in page and "oops, missed one" in page


def test_an_answer_copied_from_msglib_is_listed(tmp_path):
    import inspect

    from msglib import chain

    course = make_course(tmp_path, [MODULE])
    folder = course / "submitted" / "fay" / MODULE
    folder.mkdir(parents=True)
    nb = nbformat.read(str(ROOT / "notebooks" / MODULE / NB), as_version=4)
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "00-queue_handler").source = \
        inspect.getsource(chain.handle).replace("message", "msg").replace("result", "out")
    nbformat.write(nb, str(folder / NB))
    pairs = similarity.report(course, [MODULE])
    assert any(p.a == "fay" and p.kind == "msglib" and p.suspicious for p in pairs), pairs
