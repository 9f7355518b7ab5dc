import os

# Before anything imports TensorFlow: keep its C++ logging out of the test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_addoption(parser):
    parser.addoption(
        "--executed-notebooks", default=None, metavar="DIR",
        help="compare the book notebooks executed into DIR (the book build's "
             "_build/jupyter_execute) instead of executing them again")
