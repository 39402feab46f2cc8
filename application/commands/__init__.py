"""The command side, split by concern: tasks, runs, the dispatcher's decisions, workers."""
