"""The course's tooling: its layout, exercises built from solutions, grading, progress,
running notebooks, the environment doctor, benchmarks and the ``coursekit`` command."""
