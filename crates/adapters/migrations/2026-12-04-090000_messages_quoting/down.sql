DROP INDEX messages_quoting;
