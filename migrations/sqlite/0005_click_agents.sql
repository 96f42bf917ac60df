-- Human clicks per link, day and user agent reading (browser, OS and device together): one
-- row where the dimension counters took three, since the three come from one header and
-- a link sees few combinations of them. From this release `click_dimensions` keeps only
-- referrers, countries and languages, and no `unknown` rows: a dimension's unknown count
-- is the day's human clicks minus its known ones. Rows an earlier release wrote there
-- (browser, os, device, `unknown`) stay and are read alongside: nothing is rewritten.
-- WITHOUT ROWID: the key is the row, so an upsert touches one tree instead of two.
CREATE TABLE click_agents (
    url_id   INTEGER NOT NULL,
    day      INTEGER NOT NULL,
    browser  TEXT NOT NULL,
    os       TEXT NOT NULL,
    device   TEXT NOT NULL,
    clicks   INTEGER NOT NULL,
    PRIMARY KEY (url_id, day, browser, os, device)
) WITHOUT ROWID;
CREATE INDEX click_agents_day ON click_agents (day);
