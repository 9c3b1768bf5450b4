# The shell of JupyterLab's terminals under `make lab` / `make lab-instructor`: the user's own bash setup
# first (prompt, aliases), then the course's virtual environment back in front of PATH. A ~/.bashrc that
# puts another Python first (pyenv, conda, a system python) would otherwise make `python -m msglib check`
# fail with ModuleNotFoundError in the Lab's terminal.
[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
if [ -n "$MSGLIB_VENV_BIN" ]; then
  export PATH="$MSGLIB_VENV_BIN:$PATH"
  export VIRTUAL_ENV="$(dirname "$MSGLIB_VENV_BIN")"
fi
