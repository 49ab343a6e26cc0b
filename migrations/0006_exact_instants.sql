-- Issue 12 §4: every instant exactly as Graph gives it. Graph writes times with up to seven
-- fractional digits (.NET ticks of 100 ns: 2025-10-28T07:32:30.8670000Z); whole seconds lost
-- them. From here on every time column holds 100 ns ticks since the Unix epoch: still an
-- INTEGER that compares and indexes cheaply, and year 9999 (about 2.5e18) fits in 64 bits.
-- Our own clock readings (runs, reminders, first seen) use the same unit, so that any two
-- columns compare. Existing values are whole seconds: scaled exactly; the next sync stores the
-- fractions Graph lists. The partial indexes on end_at stay as they are: UPDATE keeps them.
UPDATE environments SET
    retired_at = retired_at * 10000000,
    last_success_at = last_success_at * 10000000,
    owners_fetched_at = owners_fetched_at * 10000000;
UPDATE applications SET
    first_seen_at = first_seen_at * 10000000,
    last_seen_at = last_seen_at * 10000000,
    removed_at = removed_at * 10000000;
UPDATE credentials SET
    start_at = start_at * 10000000,
    end_at = end_at * 10000000,
    first_seen_at = first_seen_at * 10000000,
    last_seen_at = last_seen_at * 10000000,
    removed_at = removed_at * 10000000;
UPDATE sync_runs SET
    started_at = started_at * 10000000,
    finished_at = finished_at * 10000000;
UPDATE reminders SET decided_at = decided_at * 10000000;
