"""Case 5: command-line start-up, ``exchina-index --help``, vs importing the heavy libraries.

Each command runs in a fresh process (``sys.executable``, the repository on ``PYTHONPATH``), best
of several runs after one warm-up (so the OS file cache is warm, as on a user's second call):

* ``python -m exchina_index.cli --help`` (what the ``exchina-index`` console script runs; the
  console script itself is also timed when it is on ``PATH`` next to the interpreter);
* ``python -c "import cvxpy, quantstats, yfinance"``: what ``--help`` would cost if the CLI
  imported its heavy libraries eagerly;
* ``python -c pass``: the interpreter's own start-up, the floor.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["startup_case"]

REPO = Path(__file__).resolve().parent.parent


def _wall(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    best = float("inf")
    for i in range(repeat + 1):  # the first run warms the file cache and is not counted
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-300:]}")
        if i:
            best = min(best, dt)
    return best


def startup_case(repeat: int = 5, heavy_repeat: int = 3) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    py = sys.executable
    out: dict[str, Any] = {
        "help_s": _wall([py, "-m", "exchina_index.cli", "--help"], env, repeat),
        "heavy_imports_s": _wall([py, "-c", "import cvxpy, quantstats, yfinance"], env, heavy_repeat),
        "python_bare_s": _wall([py, "-c", "pass"], env, repeat),
    }
    script = Path(py).with_name("exchina-index")
    if script.exists() or shutil.which("exchina-index"):
        exe = str(script) if script.exists() else shutil.which("exchina-index")
        out["console_script_help_s"] = _wall([exe, "--help"], env, repeat)
    out["ratio_heavy_over_help"] = out["heavy_imports_s"] / out["help_s"]
    out["target_help_lt_0_5s"] = out["help_s"] < 0.5
    return out
