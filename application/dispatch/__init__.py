"""The dispatcher: a board that follows the log, a pure plan, maintenance and a thin loop."""
