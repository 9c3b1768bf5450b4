"""The integrity scan and the re-run guard, on their own."""
from __future__ import annotations

import nbformat

from msglib.grading import guard
from msglib.grading.integrity import scan_source
from msglib.grading.pipeline import guarded_copy


def test_scan_flags_tampering_and_not_ordinary_code():
    ordinary = "import math\nfrom msglib.chain import ServiceDown\n" \
               "def call_chain(calls):\n    total = 0\n    for c in calls:\n        total += c()\n    return total\n"
    assert scan_source(ordinary) == []
    cleanup = "def f(conn):\n    try:\n        pass\n    except BaseException:\n        conn.rollback()\n        raise\n" \
              "runner.kill()\n"
    assert scan_source(cleanup) == []
    flags = [f.reason for f in scan_source(
        "import msglib.grading.ex00 as ex\nex.check_call_chain = print\n"
        "from msglib.log import Log\nLog.append = None\nsetattr(ex, 'x', 1)\n"
        "try:\n    pass\nexcept KeyboardInterrupt:\n    pass\nimport gc\nf = print.__code__\nimport sys\n"
        "sys.modules.clear()\n")]
    assert any("assigns into msglib (ex.check_call_chain)" in r for r in flags)
    assert any("assigns into msglib (Log.append)" in r for r in flags)
    assert any("setattr" in r for r in flags)
    assert any("KeyboardInterrupt" in r for r in flags)
    assert any("imports gc" in r for r in flags)
    assert any("__code__" in r for r in flags)
    assert any("sys.modules" in r for r in flags)


def test_guard_restores_patched_modules_classes_and_functions():
    import msglib.chain as chain
    from msglib.grading import ex00

    guard.arm()
    original_check, original_code = ex00.check_call_chain, chain.call_chain.__code__
    try:
        ex00.check_call_chain = lambda *a: None
        chain.call_chain.__code__ = (lambda calls: 0).__code__
        chain.ChainConfig.uniform = None
        chain.injected = 1
        guard.restore()
        assert ex00.check_call_chain is original_check
        assert chain.call_chain.__code__ is original_code
        assert callable(chain.ChainConfig.uniform)
        assert not hasattr(chain, "injected")
    finally:
        ex00.check_call_chain = original_check
        chain.call_chain.__code__ = original_code


def test_pins_bind_the_solution_cells_definitions_during_tests_only():
    ns = {"f": "solution version"}
    guard.pin("00-x", ns, ["f"])
    ns["f"] = "redefined later"
    guard.enter_test("00-x", ns)
    assert ns["f"] == "solution version"
    guard.leave_test(ns)
    assert ns["f"] == "redefined later"


def test_guarded_copy_wraps_every_test_cell():
    nb = nbformat.v4.new_notebook()
    sol = nbformat.v4.new_code_cell("def f():\n    return 1\n")
    sol.metadata["nbgrader"] = {"grade_id": "00-x", "solution": True, "grade": False}
    test = nbformat.v4.new_code_cell("assert f() == 1")
    test.metadata["nbgrader"] = {"grade_id": "00-x-test", "grade": True, "solution": False, "points": 1}
    nb.cells = [sol, test]
    sources = [c.source for c in guarded_copy(nb).cells]
    assert "arm()" in sources[0]
    assert sources[2].endswith("pin('00-x', globals(), ['f'])")
    assert "enter_test('00-x'" in sources[3] and sources[4] == "assert f() == 1" and "leave_test" in sources[5]
