# The files here are checked by mypy and pyright (tests/test_typing.py), not run.
collect_ignore_glob = ["*.py"]
