//! Pure geometry for the timeline: text widths, the time scale and its
//! ticks, and packing items into lanes so that no bar or label overlaps
//! another.

use std::time::Duration;

/// Width of one character of the 11 px monospace font, rounded up from
/// DejaVu Sans Mono's 0.602 em so estimates never fall short.
pub const CHAR_W: f64 = 6.8;
/// The same for the 14 px title.
pub const TITLE_CHAR_W: f64 = 8.6;
/// Space kept between neighbours in one lane.
pub const GAP: f64 = 2.0;
/// A point item (a refused handshake) is drawn this far either side of
/// its moment.
pub const POINT_R: f64 = 5.0;
/// The narrowest bar drawn, so a session of a few milliseconds shows.
pub const MIN_BAR: f64 = 3.0;

/// The width `text` takes at 11 px.
pub fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_W
}

/// Maps run time to x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub left: f64,
    pub width: f64,
    pub end: Duration,
}

impl Scale {
    pub fn x(&self, t: Duration) -> f64 {
        let end = self.end.as_secs_f64().max(0.001);
        self.left + self.width * (t.as_secs_f64() / end).min(1.0)
    }

    pub fn right(&self) -> f64 {
        self.left + self.width
    }
}

/// A tick step that gives at most `max_ticks` ticks over `end`, from
/// steps a person counts in: 1, 2, 5 and 10 of ms, s; 15 and 30 s; 1, 2,
/// 5, 10, 15 and 30 min; 1, 2, 4, 6 and 12 h; days.
pub fn tick_step(end: Duration, max_ticks: u32) -> Duration {
    const MS: u64 = 1;
    const S: u64 = 1000;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;
    let steps = [
        MS,
        2 * MS,
        5 * MS,
        10 * MS,
        20 * MS,
        50 * MS,
        100 * MS,
        200 * MS,
        500 * MS,
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        M,
        2 * M,
        5 * M,
        10 * M,
        15 * M,
        30 * M,
        H,
        2 * H,
        4 * H,
        6 * H,
        12 * H,
        24 * H,
    ];
    let end_ms = u64::try_from(end.as_millis()).unwrap_or(u64::MAX);
    let max = u64::from(max_ticks.max(1));
    let step = steps
        .iter()
        .copied()
        .find(|s| end_ms / s <= max)
        .unwrap_or_else(|| (end_ms / max / (24 * H) + 1) * 24 * H);
    Duration::from_millis(step)
}

/// The tick moments from 0 to `end`, inclusive of 0.
pub fn ticks(end: Duration, max_ticks: u32) -> Vec<Duration> {
    let step = tick_step(end, max_ticks);
    let mut out = Vec::new();
    let mut t = Duration::ZERO;
    while t <= end {
        out.push(t);
        t += step;
    }
    out
}

/// A tick's label: `0s`, `30s`, `1m 30s`, `4h`, `250ms`.
pub fn tick_label(t: Duration) -> String {
    if t.is_zero() {
        return "0s".into();
    }
    humantime::format_duration(t).to_string()
}

/// Where an item's label goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelAt {
    /// Inside the bar (it is wide enough).
    Inside,
    /// Right of the bar or point.
    After,
    /// Not drawn: an optional label that does not fit inside its bar.
    Hidden,
}

/// An item's horizontal extent, before packing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Left and right of the bar (equal minus/plus [`POINT_R`] for a point).
    pub x0: f64,
    pub x1: f64,
    pub label_w: f64,
    pub label_at: LabelAt,
}

impl Span {
    /// A bar from `x0` to `x1` with a label `label_w` wide. An
    /// `optional` label (one the colour already says) is drawn only
    /// inside the bar; any other goes after a bar too short to hold it.
    pub fn bar(x0: f64, x1: f64, label_w: f64, optional: bool) -> Span {
        let x1 = x1.max(x0 + MIN_BAR);
        let label_at = if x1 - x0 >= label_w + 6.0 {
            LabelAt::Inside
        } else if optional {
            LabelAt::Hidden
        } else {
            LabelAt::After
        };
        Span {
            x0,
            x1,
            label_w,
            label_at,
        }
    }

    /// A point at `x` with a label `label_w` wide after it.
    pub fn point(x: f64, label_w: f64) -> Span {
        Span {
            x0: x - POINT_R,
            x1: x + POINT_R,
            label_w,
            label_at: LabelAt::After,
        }
    }

    /// Where the label's text starts.
    pub fn label_x(&self) -> f64 {
        match self.label_at {
            LabelAt::Inside | LabelAt::Hidden => self.x0 + 3.0,
            LabelAt::After => self.x1 + 3.0,
        }
    }

    /// The rightmost x this item's bar or label reaches.
    pub fn extent(&self) -> f64 {
        match self.label_at {
            LabelAt::Inside | LabelAt::Hidden => self.x1,
            LabelAt::After => self.x1 + 3.0 + self.label_w,
        }
    }
}

/// Packs spans (in the order given, which should be by `x0`) into lanes:
/// each goes into the first lane whose last item ends at least [`GAP`]
/// before it starts. Returns each span's lane and the number of lanes.
pub fn lanes(spans: &[Span]) -> (Vec<usize>, usize) {
    let mut ends: Vec<f64> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let lane = ends.iter().position(|&end| end + GAP <= s.x0);
        let lane = match lane {
            Some(l) => l,
            None => {
                ends.push(f64::MIN);
                ends.len() - 1
            }
        };
        ends[lane] = s.extent();
        out.push(lane);
    }
    let n = ends.len().max(1);
    (out, n)
}

/// Lines of `(text, width)` entries, each line no wider than `max`: a
/// legend that wraps.
pub fn wrap(widths: &[f64], max: f64, spacing: f64) -> Vec<Vec<usize>> {
    let mut lines: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0.0;
    for (i, w) in widths.iter().enumerate() {
        let need = if used == 0.0 { *w } else { used + spacing + w };
        if need > max && used > 0.0 {
            lines.push(vec![i]);
            used = *w;
        } else {
            if let Some(last) = lines.last_mut() {
                last.push(i);
            }
            used = need;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_human_steps() {
        assert_eq!(tick_step(Duration::from_secs(60), 10), Duration::from_secs(10));
        assert_eq!(tick_step(Duration::from_secs(360), 10), Duration::from_secs(60));
        assert_eq!(
            tick_step(Duration::from_secs(4 * 3600 + 60), 10),
            Duration::from_secs(1800)
        );
        assert_eq!(
            tick_step(Duration::from_secs(8 * 3600), 5),
            Duration::from_secs(2 * 3600)
        );
        assert_eq!(tick_step(Duration::from_millis(900), 10), Duration::from_millis(100));
        let t = ticks(Duration::from_secs(120), 10);
        assert_eq!(t.first(), Some(&Duration::ZERO));
        assert_eq!(t.last(), Some(&Duration::from_secs(120)));
        assert!(t.len() <= 11);
        assert_eq!(tick_label(Duration::from_secs(90)), "1m 30s");
        assert_eq!(tick_label(Duration::ZERO), "0s");
        assert_eq!(tick_label(Duration::from_secs(4 * 3600)), "4h");
    }

    #[test]
    fn a_short_bar_puts_its_label_outside() {
        let wide = Span::bar(100.0, 300.0, text_width("1006"), false);
        assert_eq!(wide.label_at, LabelAt::Inside);
        assert_eq!(wide.extent(), 300.0);
        let short = Span::bar(100.0, 101.0, text_width("1006"), false);
        assert_eq!(short.label_at, LabelAt::After);
        assert_eq!(short.x1, 100.0 + MIN_BAR, "never thinner than MIN_BAR");
        assert!(short.extent() > short.x1 + text_width("1006"));
        let optional = Span::bar(100.0, 101.0, text_width("1000"), true);
        assert_eq!(
            optional.label_at,
            LabelAt::Hidden,
            "a normal close needs no label it cannot hold"
        );
        assert_eq!(optional.extent(), optional.x1);
    }

    #[test]
    fn packed_items_never_overlap_in_a_lane() {
        // Sixty two-second sessions five seconds apart on a 900 px, 6 min
        // axis, each labelled (say, 1006): bars of 5 px, labels of 27 px,
        // 12.5 px apart.
        let scale = Scale {
            left: 100.0,
            width: 900.0,
            end: Duration::from_secs(360),
        };
        let spans: Vec<Span> = (0..60)
            .map(|i| {
                let from = Duration::from_secs(1 + 5 * i);
                Span::bar(
                    scale.x(from),
                    scale.x(from + Duration::from_secs(2)),
                    text_width("1006"),
                    false,
                )
            })
            .collect();
        let (lane, n) = lanes(&spans);
        assert!(
            n > 1 && n <= 4,
            "a few lanes, not one band and not one per session: {n}"
        );
        for (i, a) in spans.iter().enumerate() {
            for (j, b) in spans.iter().enumerate().skip(i + 1) {
                if lane[i] == lane[j] {
                    assert!(
                        a.extent() + GAP <= b.x0,
                        "items {i} and {j} overlap in lane {}",
                        lane[i]
                    );
                }
            }
        }
    }

    #[test]
    fn legends_wrap_within_their_width() {
        let lines = wrap(&[100.0, 100.0, 100.0, 300.0], 320.0, 10.0);
        assert_eq!(lines, vec![vec![0, 1, 2], vec![3]]);
        assert_eq!(
            wrap(&[500.0], 100.0, 10.0),
            vec![vec![0]],
            "a too-wide entry gets its own line"
        );
    }
}
