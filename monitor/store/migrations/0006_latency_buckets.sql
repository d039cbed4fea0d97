-- Latency buckets fine enough for percentiles within 5 % (the report states the bound).
--
-- 0001's 17 bounds left buckets up to 50 % wide: a true 3.5 s showed as P95 4.80 s. These are
-- log-spaced, as DDSketch's are: 15 s x 1.09^k from 2 ms to 281 s, together with 0001's bounds
-- (so each old bucket is a run of new ones, and 15 s stays a bound for the unreachable rule's
-- slow probes). Adjacent bounds differ by at most a factor 1.09, so a percentile estimated
-- inside its bucket (l, u] as 2lu/(l+u) is within (u-l)/(u+l) <= 4.31 % of the true value
-- anywhere from 2 ms to 281 s (monitor/report/histogram.py).
--
-- Rows written before this migration keep their coarse counts: each old bucket's count moves
-- to the new bucket just below its upper bound, so their percentiles keep 0001's error.

CREATE FUNCTION monitor_rebucket(counts bigint[], map integer[], size integer) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    total bigint[] := array_fill(0::bigint, ARRAY[size]);
BEGIN
    FOR i IN 1 .. coalesce(cardinality(counts), 0) LOOP
        total[map[i]] := total[map[i]] + coalesce(counts[i], 0);
    END LOOP;
    RETURN total;
END
$$;

UPDATE latency_buckets SET bounds =
    ('{'
     '0.0020949,0.0022834,0.0024889,0.0027129,0.0029571,0.0032233,0.0035133,0.0038295,'
     '0.0041742,0.0045499,0.0049594,0.0054057,0.0058922,0.0064225,0.0070006,0.0076306,'
     '0.0083174,0.0090659,0.0098819,0.010771,0.011741,0.012797,0.013949,0.015204,0.016573,'
     '0.018064,0.01969,0.021462,0.023394,0.025499,0.027794,0.030296,0.033022,0.035995,'
     '0.039234,0.042765,0.046614,0.05,0.050809,0.055382,0.060366,0.065799,0.071721,0.078176,'
     '0.085212,0.092881,0.1,0.10124,0.11035,0.12028,0.13111,0.14291,0.15577,0.16979,0.18507,'
     '0.2,0.20173,0.21988,0.23967,0.26124,0.28476,0.3,0.31038,0.33832,0.36877,0.40196,'
     '0.43813,0.47756,0.5,0.52054,0.56739,0.61846,0.67412,0.73479,0.75,0.80092,0.87301,'
     '0.95158,1,1.0372,1.1306,1.2323,1.3432,1.4641,1.5,1.5959,1.7395,1.8961,2,2.0667,2.2527,'
     '2.4555,2.6765,2.9173,3,3.1799,3.4661,3.778,4.1181,4.4887,4.8927,5,5.333,5.813,6.3362,'
     '6.9064,7.5,7.528,8.2055,8.944,9.749,10,10.626,11.583,12.625,13.761,15,16.35,17.822,'
     '19.425,20,21.174,23.079,25.157,27.421,29.888,30,32.578,35.51,38.706,42.19,45.987,'
     '50.126,54.637,59.555,60,64.915,70.757,77.125,84.066,91.632,99.879,108.87,118.67,'
     '129.35,140.99,153.68,167.51,182.58,199.02,216.93,236.45,257.73,280.93'
     '}')::double precision[];

-- Old bucket i (1-based, the last one +Inf) -> the new bucket with the same upper bound.
UPDATE rollups_hourly
SET latency_buckets = monitor_rebucket(
    latency_buckets, '{38,47,56,62,69,75,79,85,89,95,102,107,112,117,121,127,136,155}', 155
);
UPDATE login_steps_hourly
SET latency_buckets = monitor_rebucket(
    latency_buckets, '{38,47,56,62,69,75,79,85,89,95,102,107,112,117,121,127,136,155}', 155
);

DROP FUNCTION monitor_rebucket(bigint[], integer[], integer);
