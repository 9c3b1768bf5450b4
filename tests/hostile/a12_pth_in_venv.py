"""Writes a .pth file (and the module it imports) into the virtual environment: every later Python process
of this batch patches module 00's checks as soon as they are imported."""
from tests.hostile._common import Submission, blank_answers, insert_after, release, scope_check

KIND, HONEST, FLAG, WHAT = "cross", 0.0, True, "writes a .pth into the venv"
EVIDENCE = r"\.pth|site-packages|write|open"


def payload(ctx) -> str:
    return f'''import sys
if {scope_check(ctx)}:
    class _Patch:
        def find_spec(self, name, path=None, target=None):
            if name != "msglib.grading.ex00":
                return None
            import importlib.util
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                for n in ("check_call_chain", "hidden_call_chain", "check_handle", "hidden_handle"):
                    setattr(module, n, lambda *a, **k: None)
            spec.loader.exec_module = exec_module
            return spec
    sys.meta_path.insert(0, _Patch())
'''


def build(ctx):
    name = f"zz_hostile_{ctx.token}"
    hook = (f"import site, sysconfig, os\n_payload = {payload(ctx)!r}\n"
            "for _dir in set(site.getsitepackages() + [sysconfig.get_paths()['purelib']]):\n"
            "    try:\n"
            f"        open(os.path.join(_dir, '{name}.py'), 'w').write(_payload)\n"
            f"        open(os.path.join(_dir, '{name}.pth'), 'w').write('import {name}\\n')\n"
            "    except OSError as exc:\n"
            "        print('could not write', _dir, exc)\n")
    return Submission(insert_after(blank_answers(release()), "00-call_chain", hook))
