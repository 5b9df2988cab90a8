-- The rows of the per-day table {daily} that fall in each timeframe's window of event time ({now} - span, {now}]:
-- whole days from {daily} itself; the two days a window covers only in part (its first day, and today up to now)
-- computed by {daily}'s own SQL over those days' events within the window. So the figures are exact to the event,
-- and an update reads {daily} for the longest window's days plus the raw events of five days, whatever the lake's age.
WITH edge_events AS (
    SELECT * FROM conversation_events
    WHERE event_date IN ({edge_days})
      AND CASE WHEN event_date = DATE '{today}' THEN event_time <= TIMESTAMP '{now}'
               ELSE event_time > TIMESTAMP '{now}' - to_days(CAST(DATE '{today}' - event_date AS INTEGER)) END
)
SELECT t.timeframe, d.*
FROM timeframes t JOIN {daily} d ON d.event_date > DATE '{today}' - t.days AND d.event_date < DATE '{today}'
WHERE d.event_date > DATE '{oldest_day}'  -- the longest window's days: no other day's file is read
UNION ALL BY NAME
SELECT t.timeframe, e.*
FROM timeframes t JOIN ({edge_rows}) e ON e.event_date = DATE '{today}' - t.days OR e.event_date = DATE '{today}'
