-- Each attempt keeps the tail of its output, whatever ended it (a timeout or a cancel too).
ALTER TABLE run_attempts ADD COLUMN output text;
