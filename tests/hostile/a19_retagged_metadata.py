"""An honest, correct submission whose metadata was altered: tags renamed, checksums and points wrong, cells
unlocked (nbgrader's checksum error). It must keep its marks."""
from tests.hostile._common import FULL, Submission, solved

KIND, HONEST, FLAG, WHAT = "oddity", FULL, False, "retagged metadata and bad checksums, correct answers"


def build(ctx):
    nb = solved()
    for c in nb.cells:
        c.metadata["tags"] = [t.replace(":", "-") + "-x" for t in c.metadata.get("tags", [])]
        meta = c.metadata.get("nbgrader")
        if meta:
            meta["locked"] = False
            if "checksum" in meta:
                meta["checksum"] = "0" * 32
            if "points" in meta:
                meta["points"] = meta["points"] + 1
        c.metadata["editable"] = True
        c.metadata["deletable"] = True
    return Submission(nb)
