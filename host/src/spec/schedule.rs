//! Schedule expressions in EventBridge's syntax, so one manifest line means the same
//! locally (the scheduler in `serve`) and in AWS (an EventBridge schedule rule):
//!
//! - `rate(<n> <unit>)` — unit `minute`/`minutes`, `hour`/`hours`, `day`/`days` (singular
//!   exactly when n = 1, as AWS requires); fires every n units from when it was created;
//! - `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)` in UTC — each
//!   field `*`, a value, `a-b`, `a,b`, `*/n` or `a/n`; months `1-12` or `JAN-DEC`, days of
//!   the week `1-7` (1 is Sunday) or `SUN-SAT`; exactly one of day-of-month and
//!   day-of-week is `?`; `L` (last day of the month / last `<d>L` weekday), `<n>W` (the
//!   weekday nearest day n) and `<d>#<n>` (the nth weekday d of the month).
//!
//! [`Schedule::next_after`] computes when it fires next (whole minutes, UTC).

use std::fmt;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Every this many seconds.
    Rate(u64),
    Cron(Box<Cron>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Days,
    months: Vec<bool>,
    /// `None`: every year.
    years: Option<Vec<bool>>,
}

/// Which days of a month match: by day of month or by day of week (the other is `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    /// Days 1..=31 of the month, plus `L` (the last day) and `nW`.
    OfMonth { days: Vec<bool>, last: bool, nearest_weekday: Option<u32> },
    /// Weekdays 1..=7 (1 is Sunday), plus `dL` (the last d of the month) and `d#n`.
    OfWeek { weekdays: Vec<bool>, last: Option<u32>, nth: Option<(u32, u32)> },
}

const FIRST_YEAR: u32 = 1970;
const LAST_YEAR: u32 = 2199;

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
            Kind::Cron(cron) => cron.next_after(after),
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

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn parse_cron(inner: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let [minutes, hours, day_of_month, month, day_of_week, year] = fields[..] else {
        return Err(format!(
            "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), `{inner}` has {}",
            fields.len()
        ));
    };
    let minutes = parse_field(minutes, "minutes", 0, 59, &[])?;
    let hours = parse_field(hours, "hours", 0, 23, &[])?;
    let months = parse_field(month, "month", 1, 12, &MONTHS)?;
    let years = if year == "*" { None } else { Some(parse_field(year, "year", FIRST_YEAR, LAST_YEAR, &[])?) };
    let days = match (day_of_month, day_of_week) {
        ("?", "?") => return Err("day-of-month and day-of-week cannot both be `?`".into()),
        ("?", weekday) => parse_weekdays(weekday)?,
        (day, "?") => parse_days_of_month(day)?,
        _ => return Err("one of day-of-month and day-of-week must be `?` (EventBridge syntax)".into()),
    };
    Ok(Cron { minutes, hours, days, months, years })
}

fn parse_days_of_month(field: &str) -> Result<Days, String> {
    if field == "L" {
        return Ok(Days::OfMonth { days: vec![false; 32], last: true, nearest_weekday: None });
    }
    if let Some(day) = field.strip_suffix('W') {
        let day = parse_value(day, "day-of-month", 1, 31, &[])?;
        return Ok(Days::OfMonth { days: vec![false; 32], last: false, nearest_weekday: Some(day) });
    }
    Ok(Days::OfMonth { days: parse_field(field, "day-of-month", 1, 31, &[])?, last: false, nearest_weekday: None })
}

fn parse_weekdays(field: &str) -> Result<Days, String> {
    if let Some((day, n)) = field.split_once('#') {
        let day = parse_value(day, "day-of-week", 1, 7, &WEEKDAYS)?;
        let n = parse_value(n, "day-of-week `#`", 1, 5, &[])?;
        return Ok(Days::OfWeek { weekdays: vec![false; 8], last: None, nth: Some((day, n)) });
    }
    if field == "L" {
        return Ok(Days::OfWeek { weekdays: vec![false; 8], last: Some(7), nth: None });
    }
    if let Some(day) = field.strip_suffix('L') {
        let day = parse_value(day, "day-of-week", 1, 7, &WEEKDAYS)?;
        return Ok(Days::OfWeek { weekdays: vec![false; 8], last: Some(day), nth: None });
    }
    Ok(Days::OfWeek { weekdays: parse_field(field, "day-of-week", 1, 7, &WEEKDAYS)?, last: None, nth: None })
}

/// A field of `*`, `v`, `a-b`, `*/n`, `a/n`, `a-b/n` and lists of them: the set of values
/// as flags indexed by value.
fn parse_field(field: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut set = vec![false; max as usize + 1];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, parse_value(step, name, 1, max.max(1), &[])?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (parse_value(a, name, min, max, names)?, parse_value(b, name, min, max, names)?),
                None => {
                    let value = parse_value(range, name, min, max, names)?;
                    (value, if part.contains('/') { max } else { value })
                }
            },
        };
        if from > to {
            return Err(format!("{name}: `{range}` is an empty range"));
        }
        for value in (from..=to).step_by(step as usize) {
            set[value as usize] = true;
        }
    }
    Ok(set)
}

fn parse_value(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(index) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(min + index as u32);
    }
    text.parse::<u32>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| format!("{name}: `{text}` is not a value in {min}..={max}"))
}

impl Cron {
    /// The first matching minute strictly after `after` (Unix seconds): walks days, then
    /// the matching hours and minutes of a matching day. At most a few hundred years of
    /// days, each checked in constant time.
    fn next_after(&self, after: u64) -> Option<u64> {
        let start_minute = after / 60 + 1;
        let mut day = start_minute / 1440;
        let mut from_minute_of_day = (start_minute % 1440) as u32;
        loop {
            let (year, month, day_of_month) = civil_from_days(day as i64);
            if year > LAST_YEAR as i64 {
                return None;
            }
            if self.matches_day(year as u32, month, day_of_month, day) {
                for minute_of_day in from_minute_of_day..1440 {
                    if self.hours[(minute_of_day / 60) as usize] && self.minutes[(minute_of_day % 60) as usize] {
                        return Some(day * 86_400 + u64::from(minute_of_day) * 60);
                    }
                }
            }
            day += 1;
            from_minute_of_day = 0;
        }
    }

    fn matches_day(&self, year: u32, month: u32, day_of_month: u32, days_since_epoch: u64) -> bool {
        if !self.months[month as usize] || self.years.as_ref().is_some_and(|years| !years[year as usize]) {
            return false;
        }
        let last_day = days_in_month(year, month);
        // 1970-01-01 was a Thursday: weekday 5 with Sunday = 1.
        let weekday = ((days_since_epoch + 4) % 7) as u32 + 1;
        match &self.days {
            Days::OfMonth { days, last, nearest_weekday } => {
                if *last {
                    return day_of_month == last_day;
                }
                if let Some(target) = nearest_weekday {
                    return nearest_weekday_of(*target, year, month, last_day) == day_of_month;
                }
                days[day_of_month as usize]
            }
            Days::OfWeek { weekdays, last, nth } => {
                if let Some(target) = last {
                    return weekday == *target && day_of_month + 7 > last_day;
                }
                if let Some((target, n)) = nth {
                    return weekday == *target && (day_of_month - 1) / 7 + 1 == *n;
                }
                weekdays[weekday as usize]
            }
        }
    }
}

/// The weekday (Mon–Fri) nearest day `target` of the month, not crossing into another month.
fn nearest_weekday_of(target: u32, year: u32, month: u32, last_day: u32) -> u32 {
    let target = target.min(last_day);
    let days = days_from_civil(year as i64, month, target);
    let weekday = ((days + 4).rem_euclid(7)) as u32 + 1; // 1 Sunday .. 7 Saturday
    match weekday {
        7 if target == 1 => 3,                 // Saturday the 1st: Monday the 3rd
        7 => target - 1,                       // Saturday: Friday
        1 if target == last_day => target - 2, // Sunday the last: Friday
        1 => target + 1,                       // Sunday: Monday
        _ => target,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) of a day number (days since 1970-01-01); Howard Hinnant's algorithm.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
            ("cron(0 25 * * ? *)", "hours: `25` is not a value in 0..=23"),
            ("cron(0 12 * FOO ? *)", "month: `FOO`"),
            ("cron(0 12 * *)", "has 6 fields"),
            ("cron(0 12 ? * 9#1 *)", "day-of-week: `9`"),
        ] {
            let error = Schedule::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1000, 0, 59, 365, 10_957, 20_000, 60_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
