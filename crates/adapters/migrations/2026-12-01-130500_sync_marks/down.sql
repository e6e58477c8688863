DROP TABLE sync_marks;
