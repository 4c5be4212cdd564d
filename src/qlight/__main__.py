"""``python -m qlight``: the same entry point as the ``qlight`` console script."""

from qlight.cli.main import main

if __name__ == "__main__":
    main()
