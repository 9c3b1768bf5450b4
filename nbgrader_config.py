"""nbgrader configuration for the course: solutions/ (source) → notebooks/ (release).

nbgrader reads this file only from the current directory: run every nbgrader
command from the repository root (the Makefile and `python -m msglib` do).
"""
import os

c = get_config()  # noqa: F821  (traitlets provides get_config when it execs this file)
HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "msglib"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.solution_directory = "generated_solutions"
c.CourseDirectory.db_url = os.environ.get("MSGLIB_GRADEBOOK_URL", "sqlite:///" + os.path.join(HERE, "gradebook.db"))
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".hypothesis",
                            ".pytest_cache", "*.orig", "*.log", "*.index", "*.timeindex", "data"]

# Each cell gets this many seconds; a notebook's worst case is cells x timeout.
c.Execute.timeout = int(os.environ.get("MSGLIB_CELL_TIMEOUT", "60"))
c.Execute.interrupt_on_timeout = True
# A deleted or stripped test cell is put back and run (nbgrader's default would
# score it 0 silently and leave the submission "needs manual grading" forever).
c.OverwriteCells.add_missing_cells = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Output limits: lines (nbgrader's own) and bytes (ours: one line can be megabytes).
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
c.Autograde.autograde_preprocessors = [
    "msglib.grading.nbgrader_ext.Execute",  # nbgrader's, minus a start-up wait that could hang (see there)
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "msglib.grading.nbgrader_ext.LimitOutputBytes",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Feedback must not show hidden tests (nbgrader shows them by default).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "msglib.grading.nbgrader_ext.ScrubHiddenTracebacks",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
