-- Evidence the official verdicts need beside 0002's tables, filled the same way (one
-- statement-level trigger over the rows each INSERT added):
--
-- * interaction_hourly: the age of the oldest open question and the slowest answer a
--   message board showed, whatever the check's own `max_unanswered`. 互动回应差 is judged on
--   these against the official 3 months; a stricter check limit only warns.
-- * login_hourly: logins that happened (a login probe that ran its flow and succeeded), the
--   slow ones among them (`extra.slow_login`, past the check's slow threshold) and the
--   slowest, for "登录不畅 N 次, 超过 X 秒".

CREATE TABLE interaction_hourly (
    site                      text NOT NULL,
    check_id                  text NOT NULL,
    location                  text NOT NULL,
    hour                      timestamptz NOT NULL,
    observations              bigint NOT NULL,
    oldest_unanswered_max     double precision,
    slowest_answer_max        double precision,
    PRIMARY KEY (site, check_id, location, hour)
);

CREATE TABLE login_hourly (
    site               text NOT NULL,
    check_id           text NOT NULL,
    location           text NOT NULL,
    hour               timestamptz NOT NULL,
    logins             bigint NOT NULL,
    slow_logins        bigint NOT NULL,
    login_seconds_max  double precision,
    PRIMARY KEY (site, check_id, location, hour)
);

CREATE FUNCTION monitor_report_evidence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO interaction_hourly AS i
        (site, check_id, location, hour, observations, oldest_unanswered_max, slowest_answer_max)
    SELECT site, check_id, location, date_trunc('hour', started_at, 'UTC'), count(*),
           max(monitor_json_seconds(data -> 'extra' -> 'oldest_unanswered_seconds')),
           max(monitor_json_seconds(data -> 'extra' -> 'slowest_answer_seconds'))
    FROM inserted
    -- Only observations that carry the evidence: the oldest question's age, or no open one.
    WHERE outcome <> 'probe_error'
      AND (data -> 'extra' ? 'oldest_unanswered_seconds'
           OR monitor_json_count(data -> 'extra' -> 'open_questions') = 0)
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (site, check_id, location, hour) DO UPDATE SET
        observations = i.observations + excluded.observations,
        oldest_unanswered_max = greatest(i.oldest_unanswered_max, excluded.oldest_unanswered_max),
        slowest_answer_max = greatest(i.slowest_answer_max, excluded.slowest_answer_max);

    INSERT INTO login_hourly AS l
        (site, check_id, location, hour, logins, slow_logins, login_seconds_max)
    SELECT site, check_id, location, date_trunc('hour', started_at, 'UTC'), count(*),
           count(*) FILTER (WHERE data -> 'extra' -> 'slow_login' = 'true'::jsonb),
           max(monitor_json_seconds(data -> 'extra' -> 'login_seconds'))
    FROM inserted
    WHERE outcome = 'ok' AND data -> 'extra' ? 'login_seconds'
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (site, check_id, location, hour) DO UPDATE SET
        logins = l.logins + excluded.logins,
        slow_logins = l.slow_logins + excluded.slow_logins,
        login_seconds_max = greatest(l.login_seconds_max, excluded.login_seconds_max);
    RETURN NULL;
END
$$;

CREATE TRIGGER probe_results_report_evidence
    AFTER INSERT ON probe_results
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION monitor_report_evidence();
