-- The job.yaml text each execution launched with (up to 1 MiB), so `batch-host restart <id>` and
-- remote workers can plan the job when the file has moved or is not on this machine.
ALTER TABLE BH_JOB_SOURCE ADD COLUMN JOB_TEXT TEXT;
