-- A change's time to the millisecond (the triggers write whole seconds), so
-- each instance can report the change feed's lag
-- (tessera_change_feed_lag_seconds). Same text order as before.
CREATE TRIGGER changes_stamped AFTER INSERT ON changes
BEGIN
    UPDATE changes SET at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE seq = NEW.seq;
END;
