-- A visitor recorded for the first time that day adds one to the visitors of the hour of
-- their first click. The click batch writes that hour's counts row before it records the
-- batch's visitors; a visitor already recorded is skipped by `ON CONFLICT DO NOTHING`, which
-- fires no trigger. This replaces a lookup of every visitor of the batch in a statement of
-- its own before they were recorded: the insert's own conflict check now decides, and the
-- one writer spends half as long on visitors (BENCHMARKS.md, 2026-12-01, fourth round).
CREATE TRIGGER click_visitors_new AFTER INSERT ON click_visitors
BEGIN
    UPDATE click_rollups SET visitors = visitors + 1
    WHERE url_id = NEW.url_id AND bucket = NEW.bucket;
END;
