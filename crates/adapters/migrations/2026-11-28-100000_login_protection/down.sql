ALTER TABLE login_tokens DROP COLUMN imported;
DROP INDEX login_failures_by_age;
DROP TABLE login_failures;
