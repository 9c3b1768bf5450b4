"""Mutation testing of every exercise's reference solution (``make mutation``; not part of ``make test``)."""
