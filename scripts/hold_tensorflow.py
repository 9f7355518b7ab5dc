"""Run a command while another process holds TensorFlow's libraries, as on a maintainer's
laptop with a notebook open.

    .venv/bin/python scripts/hold_tensorflow.py jupyter-book build . -W
    .venv/bin/python scripts/hold_tensorflow.py          # hold until stdin closes

A process that maps TensorFlow's compiled library keeps its pages resident in every other
process that maps them too, so resident memory and what
``toyviz.reproducibility.import_tensorflow`` can hand back depend on it. Nothing in the
book or the tests may depend on that: ``make test`` builds the book beside such a process,
and ``tests/test_jupyterlab.py`` runs JupyterLab beside one. The holder prints ``holding``
once TensorFlow is imported; the command starts after that, and the holder is stopped
when the command ends. Exits with the command's exit code.
"""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def hold():
    import tensorflow  # noqa: F401  (held: mapped until this process ends)

    print("holding", flush=True)
    sys.stdin.read()


def main(command):
    holder = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    if holder.stdout.readline().strip() != "holding":
        holder.kill()
        raise SystemExit("hold_tensorflow: the holder could not import TensorFlow")
    try:
        return subprocess.run(command).returncode
    finally:
        holder.stdin.close()
        holder.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(sys.argv[1:]))
    hold()
