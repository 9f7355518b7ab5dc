"""Re-execute book notebooks in place, so that their committed outputs are the reference
that ``tests/test_notebooks.py`` compares fresh executions with.

    .venv/bin/python scripts/execute_notebook.py book/node_removal.ipynb [...]

Each notebook runs top to bottom in its own folder (``toyviz.checks.execute``), without
execution timestamps and stderr streams, and with its Markdown cells' inline expressions
stored for JupyterLab. Glued values are not kept: the book's inline execution would read
them from the file before executing, and then again, as duplicates. ``--seed N`` runs it
with its ``SEED = ...`` line set to N instead, and ``--output PATH`` writes the result
elsewhere.
"""

import argparse
from pathlib import Path

import nbformat

from toyviz import checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--seed", type=int, help="run with SEED set to this instead")
    parser.add_argument("--output", type=Path, help="write here instead of in place "
                        "(one notebook only)")
    args = parser.parse_args()
    if args.output and len(args.notebooks) > 1:
        parser.error("--output takes one notebook")
    for path in args.notebooks:
        notebook = checks.execute(path, seed=args.seed)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = [output for output in cell.outputs
                                if "scrapbook" not in output.get("metadata", {})]
        nbformat.write(notebook, args.output or path)
        print(f"executed {path}" + (f" with SEED = {args.seed}" if args.seed is not None
                                    else "") + (f" into {args.output}" if args.output else ""))


if __name__ == "__main__":
    main()
