//! The stats of a link (or of all links) over a period: read from the hourly counters
//! (`domain::analytics`), so an answer costs one row per hour and dimension value, whatever
//! the number of clicks.

use super::Timestamp;
use super::analytics::{BUCKET_SECS, UNKNOWN};
use super::period::at;
pub use super::period::{Interval, MAX_POINTS, Period};
use serde::Serialize;
use std::collections::BTreeMap;

/// Entries of each dimension list before `other`.
pub const TOP: usize = 10;

/// One hour's counters, as the store reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct HourCounts {
    pub bucket: i64,
    pub humans: i64,
    pub bots: i64,
    pub previews: i64,
    pub prefetches: i64,
    pub visitors: i64,
}

/// Human clicks of one dimension value over the period, as the store sums them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DimensionCount {
    pub dimension: String,
    pub value: String,
    pub clicks: i64,
}

/// Human clicks of one (browser, OS, device) reading over the period, as the store sums them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentCount {
    pub browser: String,
    pub os: String,
    pub device: String,
    pub clicks: i64,
}

/// A link's human clicks over the period (`GET /stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TopLink {
    pub url_id: i64,
    pub humans: i64,
}

/// What the store reads for a period.
#[derive(Debug, Default)]
pub struct Counters {
    /// Every hour of the whole UTC days the period touches.
    pub hours: Vec<HourCounts>,
    /// Known values only, over the same days.
    pub dimensions: Vec<DimensionCount>,
    /// The same days' agent counters, one per combination.
    pub agents: Vec<AgentCount>,
    /// Only for all links.
    pub top_links: Vec<TopLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Point {
    pub start: Timestamp,
    pub total: i64,
    pub humans: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ValueCount {
    pub value: String,
    pub count: i64,
}

/// `GET /urls/{id}/stats` and `GET /stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// `null` for all links.
    pub url_id: Option<i64>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub interval: Interval,
    /// Every click: humans + bots + previews + prefetches.
    pub total: i64,
    pub humans: i64,
    pub bots: i64,
    pub previews: i64,
    pub prefetches: i64,
    /// Human visitors, each counted once a day (summed over the days of the period).
    pub unique_visitors: i64,
    pub series: Vec<Point>,
    /// Referring hosts of human clicks: the top 10, then `other`. The dimension lists count
    /// whole UTC days: those the period touches.
    pub referrers: Vec<ValueCount>,
    pub browsers: Vec<ValueCount>,
    pub os: Vec<ValueCount>,
    pub devices: Vec<ValueCount>,
    pub countries: Vec<ValueCount>,
    pub languages: Vec<ValueCount>,
    /// All links only: the 10 with the most human clicks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_links: Option<Vec<TopLink>>,
}

/// The top [`TOP`] values by count (ties by value), then `other` with the rest, if any.
fn top(mut counts: Vec<ValueCount>) -> Vec<ValueCount> {
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    if counts.len() > TOP {
        let other: i64 = counts.drain(TOP..).map(|c| c.count).sum();
        counts.push(ValueCount {
            value: "other".into(),
            count: other,
        });
    }
    counts
}

impl Stats {
    /// The answer for `period` from the counters read for it.
    pub fn assemble(url_id: Option<i64>, period: Period, counters: Counters) -> Self {
        let mut points: BTreeMap<i64, Point> = period
            .starts()
            .map(|start| {
                (
                    start,
                    Point {
                        start: at(start),
                        total: 0,
                        humans: 0,
                    },
                )
            })
            .collect();
        let (first, end) = period.buckets();
        let mut sums = HourCounts::default();
        let mut day_humans = 0;
        for hour in &counters.hours {
            day_humans += hour.humans;
            if hour.bucket < first || hour.bucket >= end {
                continue;
            }
            sums.humans += hour.humans;
            sums.bots += hour.bots;
            sums.previews += hour.previews;
            sums.prefetches += hour.prefetches;
            sums.visitors += hour.visitors;
            let start = period.interval.floor(hour.bucket * BUCKET_SECS);
            if let Some(point) = points.get_mut(&start) {
                point.total += hour.humans + hour.bots + hour.previews + hour.prefetches;
                point.humans += hour.humans;
            }
        }
        // Per dimension and value: a value may come from several agent combinations (and
        // from rows of the earlier layout).
        let mut summed: BTreeMap<(String, String), i64> = BTreeMap::new();
        for count in counters.dimensions {
            *summed.entry((count.dimension, count.value)).or_default() += count.clicks;
        }
        for agent in counters.agents {
            for (dimension, value) in [
                ("browser", agent.browser),
                ("os", agent.os),
                ("device", agent.device),
            ] {
                *summed.entry((dimension.to_owned(), value)).or_default() += agent.clicks;
            }
        }
        let mut dimensions: BTreeMap<String, Vec<ValueCount>> = BTreeMap::new();
        for ((dimension, value), count) in summed {
            dimensions
                .entry(dimension)
                .or_default()
                .push(ValueCount { value, count });
        }
        let mut list = |name: &str| {
            let mut counts = dimensions.remove(name).unwrap_or_default();
            let unknown = day_humans - counts.iter().map(|c| c.count).sum::<i64>();
            if unknown > 0 {
                counts.push(ValueCount {
                    value: UNKNOWN.into(),
                    count: unknown,
                });
            }
            top(counts)
        };
        Self {
            url_id,
            from: period.from,
            to: period.to,
            interval: period.interval,
            total: sums.humans + sums.bots + sums.previews + sums.prefetches,
            humans: sums.humans,
            bots: sums.bots,
            previews: sums.previews,
            prefetches: sums.prefetches,
            unique_visitors: sums.visitors,
            series: points.into_values().collect(),
            referrers: list("referrer"),
            browsers: list("browser"),
            os: list("os"),
            devices: list("device"),
            countries: list("country"),
            languages: list("language"),
            top_links: url_id.is_none().then_some(counters.top_links),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::unix;

    fn ts(raw: &str) -> Timestamp {
        Timestamp::parse(raw).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn weeks_start_on_monday_and_hours_fall_into_their_points() {
        // 2026-03-11 is a Wednesday; its week starts on Monday 2026-03-09.
        let wednesday = unix(ts("2026-03-11 15:00:00"));
        assert_eq!(
            at(Interval::Week.floor(wednesday)),
            ts("2026-03-09 00:00:00")
        );
        let period = Period::new(
            Some(ts("2026-03-09 00:00:00")),
            Some(ts("2026-03-11 00:00:00")),
            Some(Interval::Day),
            ts("2026-03-11 00:00:00"),
        )
        .unwrap_or_else(|_| unreachable!());
        let hour = |raw: &str, (humans, bots, previews, visitors)| HourCounts {
            bucket: unix(ts(raw)) / 3600,
            humans,
            bots,
            previews,
            visitors,
            ..HourCounts::default()
        };
        let hours = vec![
            hour("2026-03-09 10:00:00", (2, 1, 0, 2)),
            hour("2026-03-10 23:00:00", (1, 0, 3, 1)),
        ];
        let stats = Stats::assemble(
            Some(1),
            period,
            Counters {
                hours,
                ..Counters::default()
            },
        );
        assert_eq!(
            (stats.total, stats.humans, stats.unique_visitors),
            (7, 3, 3)
        );
        let series: Vec<(i64, i64)> = stats.series.iter().map(|p| (p.total, p.humans)).collect();
        assert_eq!(series, [(3, 2), (4, 1)]);
    }

    #[test]
    fn unknown_values_are_the_days_human_clicks_less_the_known_ones() {
        // Half a day: its totals count from noon, its dimensions the whole day.
        let period = Period::new(
            Some(ts("2026-03-09 12:00:00")),
            Some(ts("2026-03-10 00:00:00")),
            Some(Interval::Hour),
            ts("2026-03-10 00:00:00"),
        )
        .unwrap_or_else(|_| unreachable!());
        let hour = |raw: &str, humans| HourCounts {
            bucket: unix(ts(raw)) / 3600,
            humans,
            ..HourCounts::default()
        };
        let count = |dimension: &str, value: &str, clicks| DimensionCount {
            dimension: dimension.into(),
            value: value.into(),
            clicks,
        };
        let counters = Counters {
            hours: vec![
                hour("2026-03-09 08:00:00", 2),
                hour("2026-03-09 14:00:00", 3),
            ],
            dimensions: vec![count("referrer", "a.example", 1)],
            agents: vec![AgentCount {
                browser: "Chrome".into(),
                os: "Windows".into(),
                device: "desktop".into(),
                clicks: 5,
            }],
            top_links: Vec::new(),
        };
        let stats = Stats::assemble(Some(1), period, counters);
        assert_eq!(stats.humans, 3);
        let values = |list: &[ValueCount]| {
            list.iter()
                .map(|c| (c.value.clone(), c.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            values(&stats.referrers),
            [("unknown".to_owned(), 4), ("a.example".to_owned(), 1)]
        );
        assert_eq!(values(&stats.browsers), [("Chrome".to_owned(), 5)]);
        assert_eq!(values(&stats.languages), [("unknown".to_owned(), 5)]);
    }

    #[test]
    fn dimension_lists_keep_the_top_ten_and_sum_the_rest_as_other() {
        let counts = (1..=12)
            .map(|n| ValueCount {
                value: format!("v{n:02}"),
                count: n,
            })
            .collect();
        let listed = top(counts);
        assert_eq!(listed.len(), 11);
        assert_eq!(listed[0].value, "v12");
        assert_eq!(
            listed[10],
            ValueCount {
                value: "other".into(),
                count: 1 + 2
            }
        );
    }
}
