"""Answers that look copied: each student's answer cells against each other's, solutions/ and msglib's own code.

The comparison is MOSS's winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003)
over Python's own tokens (:mod:`tokenize`):

1. each answer cell is tokenised; comments and blank lines are dropped, every
   name becomes ``N``, every string ``S`` and every number ``0`` (keywords,
   operators and the indentation structure stay), so renaming variables,
   rewording comments or changing constants hides nothing;
2. hashes of every run of ``K`` tokens are winnowed (the smallest hash of each
   window of ``W`` consecutive ones is kept), which gives a fingerprint set that
   survives reordering of whole statements;
3. fingerprints of the release's own cell (the signature and docstring every
   learner starts from) are removed: shared boilerplate is not evidence;
4. two answers are compared by the share of the smaller one's fingerprints
   found in the other (containment). A pair is *suspicious* at
   ``THRESHOLD`` or above when the smaller answer has at least
   ``MIN_FINGERPRINTS`` fingerprints of its own (a two-line answer that
   everyone writes the same way is not evidence of anything).

A listed pair is a reason for a person to look, never a verdict. Short
exercises have few ways to be written; the report shows both answers side by
side so the instructor can judge.

``python -m msglib similarity [MODULE...]`` (or :func:`report` after a batch)
writes ``grades/similarity.csv`` and ``grades/similarity.html``.
"""
from __future__ import annotations

import csv
import hashlib
import html
import inspect
import io
import keyword
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

K = 5                 # tokens per k-gram
W = 4                 # winnowing window (in k-grams): any shared run of K + W - 1 tokens is always caught
THRESHOLD = 0.9       # containment at or above which a pair is suspicious
REPORTED = 0.5        # containment at or above which a pair is listed at all
MIN_FINGERPRINTS = 4  # a smaller answer with fewer fingerprints than this is never called suspicious

_MAGIC = re.compile(r"^\s*[%!]")
_MARKERS = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


# -- fingerprints ---------------------------------------------------------------------------

def normalise(source: str) -> list[str]:
    """The token stream compared: names, strings and numbers normalised, comments dropped.

    A cell that does not tokenise (a syntax error) is compared by its words.
    """
    code = "\n".join("" if _MAGIC.match(ln) or _MARKERS.match(ln) else ln for ln in source.splitlines()) + "\n"
    out: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.NAME:
                out.append(tok.string if keyword.iskeyword(tok.string) else "N")
            elif tok.type == tokenize.STRING or tok.type in _FSTRING:
                out.append("S")
            elif tok.type == tokenize.NUMBER:
                out.append("0")
            elif tok.type == tokenize.NEWLINE:
                out.append(";")
            elif tok.type == tokenize.INDENT:
                out.append("{")
            elif tok.type == tokenize.DEDENT:
                out.append("}")
            else:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = re.findall(r"\w+|[^\w\s]", code)
    return out


_FSTRING = {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n)}


def fingerprints(tokens: list[str], k: int = K, w: int = W) -> set[int]:
    """Winnowed hashes of the k-grams of ``tokens`` (all of them if there are fewer than ``w``)."""
    grams = [int.from_bytes(hashlib.blake2b(" ".join(tokens[i:i + k]).encode(), digest_size=8).digest(), "big")
             for i in range(max(0, len(tokens) - k + 1))]
    if len(grams) <= w:
        return set(grams)
    kept = set()
    for i in range(len(grams) - w + 1):
        kept.add(min(grams[i:i + w]))
    return kept


def containment(a: set[int], b: set[int]) -> float:
    """Share of the smaller set found in the other one (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# -- what is compared -------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """One answer cell: whose (a student id, ``solutions/`` or ``msglib:<twin>``) and its source."""

    owner: str
    exercise: str
    source: str


@dataclass(frozen=True)
class Pair:
    module: str
    exercise: str
    a: str
    b: str
    kind: str              # "students", "solution" or "msglib"
    similarity: float
    shared: int            # fingerprints in common
    smaller: int           # fingerprints of the smaller answer
    suspicious: bool


def _answer_cells(nb) -> dict[str, str]:
    """exercise id → source of its autograded answer cell(s), by nbgrader grade id."""
    out: dict[str, str] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            out[meta["grade_id"]] = out.get(meta["grade_id"], "") + cell.source + "\n"
    return out


def _by_definition(nb, names: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """For a notebook whose metadata was lost: the code cell that defines each exercise's answer name."""
    out: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for ex, answer_names in names.items():
            if ex not in out and any(re.search(rf"^(def|class)\s+{re.escape(n)}\b|^{re.escape(n)}\s*=", cell.source,
                                               re.M) for n in answer_names):
                out[ex] = cell.source
    return out


def _twin_sources(exercise: str) -> list[tuple[str, str]]:
    """(``msglib:<target>``, source) of msglib's own implementation(s) of ``exercise``."""
    from msglib.grading.delegation import REGISTRY, resolve

    out = []
    for target in REGISTRY.get(exercise, None).targets if exercise in REGISTRY else ():
        try:
            obj = resolve(target)
            obj = getattr(obj, "__wrapped__", obj)
            out.append((f"msglib:{target}", inspect.getsource(obj)))
        except (LookupError, OSError, TypeError):
            continue
    return out


def collect(root: Path, module: str) -> tuple[dict[str, list[Answer]], dict[str, str]]:
    """Answers per exercise (students, the solution, msglib's twins) and each exercise's release cell."""
    from msglib.grading.delegation import REGISTRY

    answers: dict[str, list[Answer]] = {}
    stubs: dict[str, str] = {}
    for path in sorted((root / "solutions" / module).glob("*.ipynb")):
        for ex, src in _answer_cells(nbformat.read(str(path), as_version=4)).items():
            answers.setdefault(ex, []).append(Answer("solutions/", ex, src))
            answers[ex] += [Answer(owner, ex, s) for owner, s in _twin_sources(ex)]
    for path in sorted((root / "notebooks" / module).glob("*.ipynb")):
        stubs.update(_answer_cells(nbformat.read(str(path), as_version=4)))
    names = {ex: REGISTRY[ex].answers for ex in answers if ex in REGISTRY and REGISTRY[ex].answers}
    for folder in sorted((root / "submitted").glob(f"*/{module}")):
        student = folder.parent.name
        found: dict[str, str] = {}
        for path in sorted(folder.glob("*.ipynb")):
            if path.is_symlink():
                continue          # not the student's own file (the grader reports it)
            try:
                nb = nbformat.read(str(path), as_version=4)
            except Exception:
                continue
            cells = _answer_cells(nb)
            for ex, src in ({**_by_definition(nb, names), **cells}).items():
                found.setdefault(ex, src)
        for ex, src in found.items():
            if ex in answers and normalise(src) != normalise(stubs.get(ex, "")):
                answers[ex].append(Answer(student, ex, src))
    return answers, stubs


def compare(answers: dict[str, list[Answer]], stubs: dict[str, str], module: str) -> list[Pair]:
    """Every student answer against every other answer of the same exercise (references included)."""
    pairs = []
    for ex, items in answers.items():
        base = fingerprints(normalise(stubs.get(ex, "")))
        prints = {a.owner: fingerprints(normalise(a.source)) - base for a in items}
        students = [a for a in items if a.owner != "solutions/" and not a.owner.startswith("msglib:")]
        refs = [a for a in items if a not in students]
        for i, a in enumerate(students):
            for b in students[i + 1:] + refs:
                fa, fb = prints[a.owner], prints[b.owner]
                sim = containment(fa, fb)
                if sim < REPORTED:
                    continue
                smaller = min(len(fa), len(fb))
                kind = "students" if b in students else ("solution" if b.owner == "solutions/" else "msglib")
                pairs.append(Pair(module, ex, a.owner, b.owner, kind, round(sim, 3), len(fa & fb), smaller,
                                  sim >= THRESHOLD and smaller >= MIN_FINGERPRINTS))
    return sorted(pairs, key=lambda p: (not p.suspicious, -p.similarity, p.exercise, p.a, p.b))


# -- the report ----------------------------------------------------------------------------

FIELDS = ["module", "exercise", "a", "b", "kind", "similarity", "shared", "smaller", "suspicious"]


def report(root: Path, modules: list[str] | None = None, out: Path | None = None) -> list[Pair]:
    """Compare every module's submissions; write ``<out>/similarity.csv`` and ``similarity.html``."""
    root = Path(root)
    out = Path(out) if out is not None else root / "grades"
    mods = modules or sorted({p.name for p in (root / "submitted").glob("*/*") if p.is_dir()})
    pairs: list[Pair] = []
    sources: dict[tuple[str, str, str], str] = {}
    for module in mods:
        answers, stubs = collect(root, module)
        pairs += compare(answers, stubs, module)
        sources.update({(module, ex, a.owner): a.source for ex, items in answers.items() for a in items})
    out.mkdir(parents=True, exist_ok=True)
    with (out / "similarity.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for p in pairs:
            writer.writerow({f: getattr(p, f) for f in FIELDS})
    (out / "similarity.html").write_text(_html(pairs, sources))
    return pairs


def _html(pairs: list[Pair], sources: dict[tuple[str, str, str], str]) -> str:
    rows = []
    for p in pairs:
        if not p.suspicious:
            continue
        a = html.escape(sources.get((p.module, p.exercise, p.a), ""))
        b = html.escape(sources.get((p.module, p.exercise, p.b), ""))
        rows.append(f"<h2>{html.escape(p.exercise)}: {html.escape(p.a)} and {html.escape(p.b)} "
                    f"({p.similarity:.0%} of {p.smaller} fingerprints, {p.kind})</h2>"
                    f"<table><tr><th>{html.escape(p.a)}</th><th>{html.escape(p.b)}</th></tr>"
                    f"<tr><td><pre>{a}</pre></td><td><pre>{b}</pre></td></tr></table>")
    listed = len([p for p in pairs if p.suspicious])
    intro = (f"<p>{listed} suspicious pair(s) at {THRESHOLD:.0%} containment or more "
             f"(winnowing over normalised Python tokens, k={K}, window {W}; the release's own cell removed). "
             "A pair is a reason to look, not a verdict. All listed pairs: similarity.csv.</p>")
    style = "<style>td{vertical-align:top;border:1px solid #ccc;padding:4px}pre{margin:0}</style>"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Similar answers</title>{style}</head>"
            f"<body><h1>Similar answers</h1>{intro}{''.join(rows) or '<p>None.</p>'}</body></html>\n")


def main(modules: list[str], root: Path | None = None, out: str = "grades") -> int:
    """``python -m msglib similarity``: print the suspicious pairs, write the CSV and the HTML report."""
    from msglib.grading.pipeline import find_root

    root = root or find_root()
    if not (root / "submitted").is_dir():
        print(f"error: no submissions in {root / 'submitted'}", flush=True)
        return 2
    unknown = [m for m in modules if not (root / "solutions" / m).is_dir()]
    if unknown:
        print(f"error: unknown module(s) {', '.join(unknown)}", flush=True)
        return 2
    pairs = report(root, modules or None, root / out)
    suspicious = [p for p in pairs if p.suspicious]
    for p in suspicious:
        print(f"{p.module} {p.exercise}: {p.a} ~ {p.b} ({p.kind}) {p.similarity:.0%} of {p.smaller} fingerprints")
    print(f"{len(suspicious)} suspicious pair(s); {root / out / 'similarity.csv'}, {root / out / 'similarity.html'}")
    return 0


__all__ = ["normalise", "fingerprints", "containment", "collect", "compare", "report", "Pair", "Answer", "main"]


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m msglib.grading.similarity",
                                     description="list answers that look copied (grades/similarity.csv and .html)")
    parser.add_argument("modules", nargs="*", help="module ids (default: every module with submissions)")
    parser.add_argument("--out", default="grades", help="folder for the CSV and the HTML report (default grades/)")
    args = parser.parse_args()
    sys.exit(main(args.modules, out=args.out))
