"""A corpus of hostile submissions of module 00, graded by tests/test_hostile.py (see _common.py)."""
