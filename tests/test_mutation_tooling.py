"""The mutation-testing script's own pieces (fast; the mutation run itself is `make mutation`, outside make test)."""
from __future__ import annotations

import json

from mutation.__main__ import changed_lines, dump, load_module, source_notebooks
from mutation.equivalent import EQUIVALENT, by_rule

NOTEBOOKS = source_notebooks()


def _exercises():
    return {ex.id: ex for nb in NOTEBOOKS for ex in load_module(nb).exercises.values()}


def test_the_mutated_region_is_the_learners_lines_only():
    exercises = _exercises()
    assert exercises, "no exercise found in solutions/"
    for ex in exercises.values():
        lines = ex.source.splitlines()
        first, last = ex.region
        assert 1 <= first <= last <= len(lines), f"{ex.id}: region {ex.region} outside its {len(lines)} lines"
        assert "### " not in ex.source, f"{ex.id}: solution markers left in the extracted module"
        assert [gid for gid, _ in ex.tests][-1].endswith("-hidden"), f"{ex.id}: hidden tests must run last"
    call_chain = exercises["00-call_chain"]
    assert call_chain.source.splitlines()[call_chain.region[0] - 2].startswith('    """'), \
        "the docstring the learner is given is not part of the mutated lines"


def test_every_listed_equivalent_mutant_names_a_line_of_its_reference():
    # a stale entry (the reference changed) would silently stop matching: name it instead
    exercises = _exercises()
    for ex, entries in EQUIVALENT.items():
        assert ex in exercises, f"mutation/equivalent.py lists {ex}, which is no exercise"
        text = " / ".join(line.strip() for line in exercises[ex].source.splitlines())
        for original, mutated in entries:
            assert original in text, f"{ex}: the equivalent mutant's line {original!r} is not in the reference"
            assert original != mutated


def test_the_sql_case_rule_applies_only_to_case_changes_of_sql_without_literals():
    assert by_rule('conn.execute("BEGIN")', 'conn.execute("begin")')
    assert by_rule('"WHERE published = 0 ORDER BY id LIMIT ?"', '"where published = 0 order by id limit ?"')
    assert by_rule("conn.execute(\"SELECT 1 WHERE x = 'a'\")", "conn.execute(\"select 1 where x = 'A'\")") is None
    assert by_rule('raise X("no committed offset")', 'raise X("NO COMMITTED OFFSET")') is None
    assert by_rule('conn.execute("BEGIN")', 'conn.execute("COMMIT")') is None
    sql = 'conn.execute("UPDATE t SET paid = ? WHERE id = ?", (event.data["amount"], i))'
    assert by_rule(sql, sql.replace('"amount"', '"AMOUNT"')) is None   # a dict key, not the SQL
    assert by_rule(sql, sql.replace('UPDATE t SET', 'update t set'))


def test_a_mutant_is_named_by_its_changed_lines():
    assert changed_lines("a = 1\nb = 2\n", "a = 1\nb = 3\n") == ("b = 2", "b = 3")
    assert changed_lines("if x:\n    y()\n", "if x:\n    y()\n") == ("", "")


def test_results_json_text_round_trips_with_one_line_per_mutant():
    data = {"command": "python -m mutation", "exercises": {
        "00-x": {"mutants": 2, "score": 1.0, "details": [{"original": "a < b", "outcome": "killed"},
                                                         {"original": "é", "outcome": "equivalent"}]},
        "01-y": {"mutants": 0, "score": None, "error": "the reference fails", "details": []}}}
    text = dump(data)
    assert json.loads(text) == data
    assert sum('"outcome"' in line for line in text.splitlines()) == 2
