//! Clicks over time as an SVG bar chart drawn on the server: one bar per point of the
//! stats' series, humans dark and everything else light on top, with a text alternative.

use crate::domain::stats::Point;
use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;
const AXIS: f64 = 18.0;

pub fn clicks_over_time(series: &[Point]) -> Markup {
    let most = series.iter().map(|p| p.total).max().unwrap_or(0).max(1) as f64;
    let slot = WIDTH / series.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let plot = HEIGHT - AXIS;
    let total: i64 = series.iter().map(|p| p.total).sum();
    let humans: i64 = series.iter().map(|p| p.humans).sum();
    let first = series
        .first()
        .map(|p| p.start.to_string())
        .unwrap_or_default();
    let last = series
        .last()
        .map(|p| p.start.to_string())
        .unwrap_or_default();
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="chart-title" preserveAspectRatio="none" {
                title id="chart-title" { (total) " clicks, " (humans) " by people, from " (first) " to " (last) }
                @for (i, point) in series.iter().enumerate() {
                    @let x = i as f64 * slot + (slot - bar) / 2.0;
                    @let all = point.total as f64 / most * plot;
                    @let people = point.humans as f64 / most * plot;
                    rect.others x=(fmt(x)) y=(fmt(plot - all)) width=(fmt(bar)) height=(fmt(all - people)) {}
                    rect.humans x=(fmt(x)) y=(fmt(plot - people)) width=(fmt(bar)) height=(fmt(people)) {}
                }
                line.axis x1="0" y1=(fmt(plot)) x2=(fmt(WIDTH)) y2=(fmt(plot)) {}
                text x="0" y=(fmt(HEIGHT - 4.0)) { (first.get(..10).unwrap_or("")) }
                text x=(fmt(WIDTH)) y=(fmt(HEIGHT - 4.0)) text-anchor="end" { (last.get(..10).unwrap_or("")) }
            }
            figcaption {
                span.key.humans { "People" } " " span.key.others { "Bots, previews and prefetches" }
            }
        }
    }
}

fn fmt(value: f64) -> String {
    format!("{value:.1}")
}
