"""hierstan against PyMC and nutpie; the same as `hierstan bench` (options: --help)."""

from hierstan.bench.run import main

if __name__ == "__main__":
    main()
