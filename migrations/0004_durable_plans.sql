-- Durable escalation plans (DESIGN §5): the plan and each finished step's outcome, as JSON
-- {plan_source, fallback_reason?, steps: [{organ_id, task}], done: [{organ_id, replica, agent_id, result, at}]}.
-- A retry resumes at step done.length, so a finished step never runs again.
ALTER TABLE tasks ADD COLUMN plan TEXT;
