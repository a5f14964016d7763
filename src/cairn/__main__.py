"""``python -m cairn``: the same command line as the ``cairn`` console script."""

from cairn.cli import main

if __name__ == "__main__":
    main()
