"""python -m gonogo.cli: the `gonogo` command."""

import sys

from gonogo.cli import main

if __name__ == "__main__":
    sys.exit(main())
