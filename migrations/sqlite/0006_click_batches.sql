-- The keys of the click batches written in the last two days. The click writer gives each
-- batch a random key and keeps it across its retries; the batch's write inserts the key
-- first, so a retry after a commit whose answer was lost (the database went away while
-- answering) fails on the key and writes nothing twice. Forgotten after a day.
CREATE TABLE click_batches (
    key  INTEGER PRIMARY KEY,
    day  INTEGER NOT NULL
);
CREATE INDEX click_batches_day ON click_batches (day);
