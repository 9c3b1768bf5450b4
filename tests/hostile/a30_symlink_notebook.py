"""The submitted notebook is a symbolic link to another student's submission."""
from tests.hostile._common import MODULE, NB_NAME, Submission

KIND, HONEST, FLAG, WHAT = "cheat", 0.0, True, "the notebook is a symlink to another student's notebook"
EVIDENCE = r"link"


def build(ctx):
    return Submission(None, symlinks={NB_NAME: f"../../{ctx.control}/{MODULE}/{NB_NAME}"})
