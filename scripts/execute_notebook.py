"""Re-execute book notebooks in place, so that their committed outputs are the ones nbval
compares against.

    .venv/bin/python scripts/execute_notebook.py book/node_removal.ipynb [...]

Runs each notebook top to bottom in its own folder with the ``python3`` kernel, then drops
execution timestamps and stderr streams (TensorFlow's start-up notices, which the built book removes too and
nbval's kernel does not always print).
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path):
    path = Path(path).resolve()
    notebook = nbformat.read(path, as_version=4)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timestamps: noise in every diff
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.outputs
                            if not (output.output_type == "stream" and output.name == "stderr")]
    nbformat.write(notebook, path)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for name in sys.argv[1:]:
        execute(name)
        print(f"executed {name}")
