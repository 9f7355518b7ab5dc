"""Write environment.yml (Binder) from requirements.lock, so both pin the same versions."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# Binder environment. The pip pins are requirements.lock, copied; tests/test_foundation.py
# fails if the two disagree. Regenerate both with `make lock`. Binder installs toyviz itself
# in postBuild, once the repository is in place.
name: toyviz
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def main():
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    body = "".join(f"      - {pin}\n" for pin in pins)
    (ROOT / "environment.yml").write_text(HEADER + body)


if __name__ == "__main__":
    main()
