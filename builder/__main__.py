"""`python -m builder ...` runs the same command line as `builder ...`."""

from builder.cli import main

if __name__ == "__main__":
    main(prog_name="builder")
