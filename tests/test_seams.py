"""The seam registry (msglib.grading.seams): one entry per autograded exercise, and every entry true."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from msglib.grading import delegation
from msglib.grading.seams import DEFAULT_IS_NOT_A_TWIN, KINDS, SEAMS, resolve

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


def autograded_exercises() -> set[str]:
    """Exercise ids of every ``solution:<ex>`` cell in the source notebooks."""
    found = set()
    for path in SOLUTIONS.glob("*/*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for tag in cell.get("metadata", {}).get("tags", []):
                if tag.startswith("solution:"):
                    found.add(tag.removeprefix("solution:"))
    return found


def test_one_entry_per_autograded_exercise():
    exercises = autograded_exercises()
    assert exercises, "no solution:<ex> tags found under solutions/"
    assert set(SEAMS) == exercises, (f"missing from msglib/grading/seams.py: {sorted(exercises - set(SEAMS))}; "
                                     f"no such exercise: {sorted(set(SEAMS) - exercises)}")


@pytest.mark.parametrize("exercise", sorted(SEAMS))
def test_every_entry_resolves(exercise):
    seam = SEAMS[exercise]
    assert seam.kind in KINDS, f"{exercise}: kind {seam.kind!r} is not one of {KINDS}"
    default = resolve(seam.default)
    assert callable(default), f"{exercise}: the default {seam.default} is not callable"
    for name in (seam.check, seam.hidden):
        check = resolve(name)
        assert callable(check), f"{exercise}: {name} is not callable"
        assert exercise in inspect.getsource(inspect.getmodule(check)), \
            f"{exercise}: {name}'s module never names the exercise id"


@pytest.mark.parametrize("exercise", sorted(SEAMS))
def test_the_default_is_one_of_the_delegation_twins(exercise):
    """The seam registry and the delegation registry describe the same exercises consistently."""
    twin = delegation.REGISTRY[exercise]
    twins = {id(resolve(t)) for t in twin.targets}
    is_twin = id(resolve(SEAMS[exercise].default)) in twins
    if exercise in DEFAULT_IS_NOT_A_TWIN:
        assert not is_twin, f"{exercise}: its default is a twin now; remove it from DEFAULT_IS_NOT_A_TWIN"
    else:
        assert is_twin, (f"{exercise}: default {SEAMS[exercise].default} is not among the delegation twins "
                         f"{twin.targets}")


def test_policy_seams_default_to_the_package_policies():
    """kind 'policy': msglib.cluster.Policies() carries exactly the default the registry names."""
    from msglib.cluster.policies import Policies

    policies = Policies()
    for seam in SEAMS.values():
        if seam.kind == "policy":
            field = seam.where.split("Policies(")[1].split("=")[0]
            assert getattr(policies, field) is resolve(seam.default), seam.exercise


def test_setting_seams_default_to_the_client_policies():
    """kind 'setting': a KafkaConsumer built without the setting applies exactly the registry's default."""
    from msglib.client.consumer import KafkaConsumer
    from msglib.groups.local import LocalBroker

    consumer = KafkaConsumer(cluster=LocalBroker(seed=1, fast=True), group_id="g")
    settings = {"05-starting_offset": consumer.reset_position, "06-filter_aborted": consumer.aborted_filter}
    assert {s.exercise for s in SEAMS.values() if s.kind == "setting"} == set(settings)
    for exercise, applied in settings.items():
        assert applied is resolve(SEAMS[exercise].default), exercise
    consumer.close()


def test_hidden_is_named_after_check():
    assert SEAMS["03-sequence_check"].hidden == "msglib.grading.ex03:hidden_sequence_check"
