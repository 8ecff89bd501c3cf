"""What runs: the function catalog, the entrypoints (routes, workers, schedules, operators) and
the work that runs after a response."""
