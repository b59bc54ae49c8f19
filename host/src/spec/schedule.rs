//! Schedule expressions in EventBridge's syntax, so one manifest line means the same
//! locally (the scheduler in `serve`) and in AWS (an EventBridge schedule rule):
//!
//! - `rate(<n> <unit>)` — unit `minute`/`minutes`, `hour`/`hours`, `day`/`days` (singular
//!   exactly when n = 1, as AWS requires); fires every n units from when it was created;
//! - `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)` in UTC — each
//!   field `*`, a value, `a-b`, `a,b`, `*/n` or `a/n`; months `1-12` or `JAN-DEC`, days of
//!   the week `1-7` (1 is Sunday) or `SUN-SAT`; exactly one of day-of-month and
//!   day-of-week is `?`; `L` (last day of the month / last `<d>L` weekday), `<n>W` (the
//!   weekday nearest day n) and `<d>#<n>` (the nth weekday d of the month); years
//!   1970-2199.
//!
//! `rate` is parsed here (a number and a unit). `cron` is `croner`'s, set to EventBridge's
//! dialect (no seconds, a year field, Quartz weekdays, `a/n` steps); what is EventBridge's
//! alone — six fields, the `?` rule, the years — is checked here first, and a field croner
//! refuses is named by trying the fields one at a time.
//!
//! [`Schedule::next_after`] computes when it fires next (whole minutes, UTC).

use croner::parser::{CronParser, Seconds, Year};
use std::fmt;

/// A parsed schedule expression.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

/// Two schedules are the same when written the same.
impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Schedule {}

#[derive(Debug, Clone)]
enum Kind {
    /// Every this many seconds.
    Rate(u64),
    Cron(Box<croner::Cron>),
}

/// EventBridge's year bounds.
const FIRST_YEAR: u32 = 1970;
const LAST_YEAR: u32 = 2199;

/// The fields of a `cron(...)`, for messages.
const FIELDS: [(&str, &str); 6] = [
    ("minutes", "0-59"),
    ("hours", "0-23"),
    ("day-of-month", "1-31, `L`, `<n>W` or `?`"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "1-7 (1 is Sunday) or SUN-SAT, `<d>L`, `<d>#<n>` or `?`"),
    ("year", "1970-2199"),
];

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let kind = if let Some(inner) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
            Kind::Rate(parse_rate(inner)?)
        } else if let Some(inner) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
            Kind::Cron(Box::new(parse_cron(inner)?))
        } else {
            return Err(format!(
                "`{text}` is not a schedule: use `rate(5 minutes)` or `cron(0 12 * * ? *)` (EventBridge syntax)"
            ));
        };
        Ok(Self { text: text.to_owned(), kind })
    }

    /// The expression as written (what Terraform gives EventBridge).
    pub fn expression(&self) -> &str {
        &self.text
    }

    /// The first time it fires strictly after `after` (Unix seconds), counting a rate from
    /// `start`. `None` if it never fires again (a cron whose years are all past).
    pub fn next_after(&self, start: u64, after: u64) -> Option<u64> {
        match &self.kind {
            Kind::Rate(every) => {
                let elapsed = after.saturating_sub(start);
                Some(start + (elapsed / every + 1) * every)
            }
            Kind::Cron(cron) => {
                let after = chrono::DateTime::<chrono::Utc>::from_timestamp(i64::try_from(after).ok()?, 0)?;
                let next = cron.find_next_occurrence(&after, false).ok()?;
                u64::try_from(next.timestamp()).ok()
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_rate(inner: &str) -> Result<u64, String> {
    let usage = "a rate is `rate(<n> <unit>)` with unit minute(s), hour(s) or day(s), e.g. `rate(5 minutes)`";
    let mut words = inner.split_whitespace();
    let (Some(n), Some(unit), None) = (words.next(), words.next(), words.next()) else { return Err(usage.into()) };
    let n: u64 = n.parse().ok().filter(|n| *n > 0 && *n <= 1_000_000).ok_or_else(|| usage.to_owned())?;
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3600),
        "day" | "days" => ("day", 86_400),
        _ => return Err(format!("unknown unit `{unit}`: {usage}")),
    };
    if (n == 1) != (unit == singular) {
        return Err(format!("say `rate(1 {singular})` for one, `rate({n} {singular}s)` for more (as AWS requires)"));
    }
    Ok(n * seconds)
}

fn parse_cron(inner: &str) -> Result<croner::Cron, String> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let [_, _, day_of_month, _, day_of_week, year] = fields[..] else {
        return Err(format!(
            "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), `{inner}` has {}",
            fields.len()
        ));
    };
    match (day_of_month, day_of_week) {
        ("?", "?") => return Err("day-of-month and day-of-week cannot both be `?`".into()),
        ("?", _) | (_, "?") => {}
        _ => return Err("one of day-of-month and day-of-week must be `?` (EventBridge syntax)".into()),
    }
    let out_of_bounds = year
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .find(|n| n.parse::<u32>().map_or(true, |n| !(FIRST_YEAR..=LAST_YEAR).contains(&n)));
    if let Some(n) = out_of_bounds {
        return Err(format!("year: `{n}` is not a year in {FIRST_YEAR}..={LAST_YEAR}"));
    }
    croner_cron(&fields).map_err(|whole| {
        // Name the field: each alone, the others at values that always parse.
        let ok = ["0", "0", "1", "*", "?", "*"];
        (0..6)
            .find_map(|i| {
                let mut probe = ok;
                probe[i] = fields[i];
                if i == 2 {
                    probe[4] = "?";
                } else if i == 4 {
                    probe[2] = "?";
                }
                croner_cron(&probe).err().map(|why| {
                    let (name, values) = FIELDS[i];
                    format!("{name}: `{}` is not valid here ({why}); use {values}", fields[i])
                })
            })
            .unwrap_or(whole)
    })
}

/// Six EventBridge fields as croner reads them: seconds 0 in front, weekdays 1-7 from Sunday.
fn croner_cron(fields: &[&str]) -> Result<croner::Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
        .parse(&format!("0 {}", fields.join(" ")))
        .map_err(|e| {
            let text = e.to_string();
            let text = text
                .strip_prefix("Component error: ")
                .or_else(|| text.strip_prefix("Invalid pattern: "))
                .unwrap_or(&text);
            text.trim_end_matches('.').to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC time, for readable tests.
    fn at(text: &str) -> u64 {
        humantime::parse_rfc3339(text).unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    fn next(expression: &str, after: &str) -> String {
        let schedule = Schedule::parse(expression).unwrap();
        let next = schedule.next_after(0, at(after)).unwrap();
        humantime::format_rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(next)).to_string()
    }

    #[test]
    fn rates_count_from_their_start() {
        let every_5 = Schedule::parse("rate(5 minutes)").unwrap();
        assert_eq!(every_5.next_after(1000, 1000), Some(1300));
        assert_eq!(every_5.next_after(1000, 1299), Some(1300));
        assert_eq!(every_5.next_after(1000, 1300), Some(1600));
        assert_eq!(Schedule::parse("rate(1 day)").unwrap().next_after(0, 10), Some(86_400));
    }

    #[test]
    fn bad_rates_say_what_to_write() {
        for (text, expected) in [
            ("rate(5 minute)", "rate(5 minutes)"),
            ("rate(1 minutes)", "rate(1 minute)"),
            ("rate(0 minutes)", "rate(<n> <unit>)"),
            ("rate(5 weeks)", "unknown unit `weeks`"),
            ("every 5 minutes", "is not a schedule"),
        ] {
            let error = Schedule::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    /// The examples of AWS's "Cron expressions" reference for EventBridge.
    #[test]
    fn cron_examples_from_the_eventbridge_documentation() {
        // 10:15 UTC every day
        assert_eq!(next("cron(15 10 * * ? *)", "2026-12-01T11:00:00Z"), "2026-12-02T10:15:00Z");
        // 6:00 PM Monday through Friday
        assert_eq!(next("cron(0 18 ? * MON-FRI *)", "2026-12-04T18:00:00Z"), "2026-12-07T18:00:00Z");
        // 8:00 AM on the first day of the month
        assert_eq!(next("cron(0 8 1 * ? *)", "2026-12-01T09:00:00Z"), "2027-01-01T08:00:00Z");
        // every 10 min on weekdays
        assert_eq!(next("cron(0/10 * ? * MON-FRI *)", "2026-12-05T12:00:00Z"), "2026-12-07T00:00:00Z");
        // every 5 minutes between 8:00 AM and 5:55 PM weekdays
        assert_eq!(next("cron(0/5 8-17 ? * MON-FRI *)", "2026-12-01T17:56:00Z"), "2026-12-02T08:00:00Z");
        // 9:00 AM on the first Monday of each month
        assert_eq!(next("cron(0 9 ? * 2#1 *)", "2026-12-01T00:00:00Z"), "2026-12-07T09:00:00Z");
    }

    #[test]
    fn cron_last_day_weekday_nearest_and_years() {
        assert_eq!(next("cron(0 0 L * ? *)", "2028-02-01T00:00:00Z"), "2028-02-29T00:00:00Z");
        assert_eq!(next("cron(0 0 ? * 6L *)", "2026-12-01T00:00:00Z"), "2026-12-25T00:00:00Z");
        // the 1st of August 2026 is a Saturday: the nearest weekday is Monday the 3rd
        assert_eq!(next("cron(0 0 1W * ? *)", "2026-07-15T00:00:00Z"), "2026-08-03T00:00:00Z");
        assert_eq!(next("cron(30 6 1 JAN ? 2030)", "2026-12-01T00:00:00Z"), "2030-01-01T06:30:00Z");
        assert_eq!(Schedule::parse("cron(0 0 1 1 ? 1999)").unwrap().next_after(0, at("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn bad_crons_name_the_field() {
        for (text, expected) in [
            ("cron(0 12 * * * *)", "one of day-of-month and day-of-week must be `?`"),
            ("cron(0 12 ? * ? *)", "cannot both be `?`"),
            ("cron(0 25 * * ? *)", "hours: `25` is not valid here (Number out of bounds); use 0-23"),
            ("cron(0 12 * FOO ? *)", "month: `FOO`"),
            ("cron(0 12 * *)", "has 6 fields"),
            ("cron(0 12 ? * 9#1 *)", "day-of-week: `9#1` is not valid here"),
            ("cron(0 12 * * ? 1969)", "year: `1969` is not a year in 1970..=2199"),
        ] {
            let error = Schedule::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
