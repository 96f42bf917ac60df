-- The number of urls, kept by every insert and delete in the same transaction, so that a list
-- of all urls reads its X-Total-Count from one row instead of counting the table. A count
-- walks every leaf page of an index of urls: 7 ms a list page at 1,000,000 urls, more under
-- load, when a read transaction that starts after the writer's latest commit drops its page
-- cache and reads those pages from the file again (BENCHMARKS.md, twenty-first round). A
-- list reads the row in its own snapshot, so the total is exactly what count(*) would say. The one writer applies the triggers in turn: no shards are needed, as
-- PostgreSQL's own migration 0008 has.
CREATE TABLE row_counts (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO row_counts (name, n) SELECT 'urls', count(*) FROM urls;

CREATE TRIGGER urls_count_added AFTER INSERT ON urls
BEGIN
    UPDATE row_counts SET n = n + 1 WHERE name = 'urls';
END;

CREATE TRIGGER urls_count_removed AFTER DELETE ON urls
BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'urls';
END;
