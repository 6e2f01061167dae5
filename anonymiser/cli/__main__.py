"""`python -m anonymiser.cli`: the same entry point as the `anonymiser` command."""

from anonymiser.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
