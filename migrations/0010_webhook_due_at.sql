-- When a sent webhook's next delivery try is due (epoch ms): set when it is queued (now) and when
-- an attempt is recorded (now + the backoff delay; NULL once delivered or failed). The alarm
-- re-sends a webhook only once its try is overdue, so a lost queue message is re-sent within
-- about a minute while one waiting out a backoff delay (up to 10 minutes) is left alone.
-- Written by the statements that already write the row: no extra row writes, no new index.
ALTER TABLE tasks ADD COLUMN webhook_due_at INTEGER;
-- Webhooks sent before this column existed may wait out a backoff of up to 600 s.
UPDATE tasks SET webhook_due_at = updated_at + 600000 WHERE webhook_state = 'sent';
