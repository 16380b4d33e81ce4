"""The exercises, one module per part of the course; each module lists its Exercises in EXERCISES."""
