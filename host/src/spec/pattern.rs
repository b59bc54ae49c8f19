//! EventBridge event patterns: which custom events a `{ bus = ..., pattern = ... }`
//! trigger receives. The same semantics as EventBridge, so a pattern that works locally
//! works as an AWS rule (Terraform gives EventBridge the same JSON):
//!
//! - a pattern is an object whose fields mirror the event's; a field's value is a nested
//!   pattern (an object) or a non-empty list of matchers, any of which may match;
//! - matchers: an exact string, number, boolean or `null`; `{"prefix": s}`,
//!   `{"suffix": s}`, `{"equals-ignore-case": s}`, `{"wildcard": "a*b"}`,
//!   `{"anything-but": v | [v, ...] | {"prefix": s} | {"suffix": s}}`,
//!   `{"numeric": [">", 0, "<=", 5]}`, `{"exists": true | false}`;
//! - `"$or": [pattern, ...]` matches when any of its patterns does;
//! - an event field that is a list matches when any of its elements does.
//!
//! [`Pattern::parse`] refuses anything else, naming the field (`cidr` too: plughost does
//! not evaluate it).

use serde_json::{Map, Value};

/// A checked event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern(Map<String, Value>);

impl Pattern {
    /// Checks `value` (the manifest's `pattern`, as JSON) is a valid pattern.
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(fields) = value else {
            return Err("a pattern is a table of event fields, e.g. `{ source = [\"shop\"] }`".into());
        };
        if fields.is_empty() {
            return Err("a pattern needs at least one field, e.g. `{ source = [\"shop\"] }`".into());
        }
        check_object(&fields, "pattern")?;
        Ok(Self(fields))
    }

    /// The pattern as JSON (what an EventBridge rule's `event_pattern` holds).
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// Whether `event` (the whole EventBridge event: `source`, `detail-type`, `detail`, ...)
    /// matches.
    pub fn matches(&self, event: &Value) -> bool {
        matches_object(&self.0, event)
    }
}

fn check_object(fields: &Map<String, Value>, at: &str) -> Result<(), String> {
    for (name, value) in fields {
        let here = format!("{at}.{name}");
        match (name.as_str(), value) {
            ("$or", Value::Array(alternatives)) if alternatives.len() >= 2 => {
                for alternative in alternatives {
                    let Value::Object(alternative) = alternative else {
                        return Err(format!("{here}: each alternative is a pattern (a table)"));
                    };
                    check_object(alternative, &here)?;
                }
            }
            ("$or", _) => return Err(format!("{here}: `$or` takes a list of at least two patterns")),
            (_, Value::Object(nested)) if !nested.is_empty() => check_object(nested, &here)?,
            (_, Value::Array(matchers)) if !matchers.is_empty() => {
                for matcher in matchers {
                    check_matcher(matcher).map_err(|m| format!("{here}: {m}"))?;
                }
            }
            _ => return Err(format!("{here}: must be a non-empty list of values to match, or a nested pattern")),
        }
    }
    Ok(())
}

fn check_matcher(matcher: &Value) -> Result<(), String> {
    let Value::Object(operator) = matcher else {
        return match matcher {
            Value::Array(_) => Err("a matcher cannot be a list".into()),
            _ => Ok(()), // exact string, number, boolean or null
        };
    };
    let [(name, argument)] = operator.iter().collect::<Vec<_>>()[..] else {
        return Err("a matcher object has exactly one operator, e.g. `{ prefix = \"ord-\" }`".into());
    };
    match (name.as_str(), argument) {
        ("prefix" | "suffix", Value::String(_)) => Ok(()),
        ("prefix" | "suffix", Value::Object(inner)) if is_ignore_case(inner) => Ok(()),
        ("equals-ignore-case" | "wildcard", Value::String(_)) => Ok(()),
        ("exists", Value::Bool(_)) => Ok(()),
        ("anything-but", Value::String(_) | Value::Number(_)) => Ok(()),
        ("anything-but", Value::Array(values))
            if !values.is_empty() && values.iter().all(|v| v.is_string() || v.is_number()) =>
        {
            Ok(())
        }
        ("anything-but", Value::Object(inner))
            if inner.len() == 1
                && matches!(inner.iter().next(), Some((k, Value::String(_))) if k == "prefix" || k == "suffix") =>
        {
            Ok(())
        }
        ("numeric", Value::Array(terms)) => check_numeric(terms),
        ("cidr", _) => Err("`cidr` matching is not supported by plughost".into()),
        (name, _) => Err(format!(
            "`{name}` with this argument is not an EventBridge matcher (prefix, suffix, equals-ignore-case, \
             wildcard, anything-but, numeric, exists)"
        )),
    }
}

fn is_ignore_case(inner: &Map<String, Value>) -> bool {
    inner.len() == 1 && inner.get("equals-ignore-case").is_some_and(Value::is_string)
}

fn check_numeric(terms: &[Value]) -> Result<(), String> {
    let usage = "`numeric` takes one or two comparisons, e.g. `[\">\", 0, \"<=\", 5]`";
    if terms.is_empty() || !terms.len().is_multiple_of(2) || terms.len() > 4 {
        return Err(usage.into());
    }
    for pair in terms.chunks(2) {
        let operator_ok = matches!(pair[0].as_str(), Some("<" | "<=" | "=" | ">" | ">="));
        if !operator_ok || !pair[1].is_number() {
            return Err(usage.into());
        }
    }
    Ok(())
}

fn matches_object(pattern: &Map<String, Value>, event: &Value) -> bool {
    pattern.iter().all(|(name, spec)| {
        if name == "$or" {
            let alternatives = spec.as_array().map(Vec::as_slice).unwrap_or_default();
            return alternatives.iter().any(|alt| alt.as_object().is_some_and(|alt| matches_object(alt, event)));
        }
        let field = event.get(name);
        match spec {
            Value::Object(nested) => field.is_some_and(|field| matches_object(nested, field)),
            Value::Array(matchers) => matches_field(matchers, field),
            _ => false,
        }
    })
}

fn matches_field(matchers: &[Value], field: Option<&Value>) -> bool {
    let Some(field) = field else {
        return matchers.iter().any(|m| m.get("exists") == Some(&Value::Bool(false)));
    };
    let values: Vec<&Value> = match field {
        Value::Array(items) => items.iter().collect(),
        value => vec![value],
    };
    matchers.iter().any(|matcher| {
        if let Some(exists) = matcher.get("exists").and_then(Value::as_bool) {
            return exists;
        }
        values.iter().any(|value| matches_value(matcher, value))
    })
}

fn matches_value(matcher: &Value, value: &Value) -> bool {
    let Value::Object(operator) = matcher else { return equal(matcher, value) };
    let Some((name, argument)) = operator.iter().next() else { return false };
    let text = value.as_str();
    match name.as_str() {
        "prefix" => text.is_some_and(|t| affix(argument, t, true)),
        "suffix" => text.is_some_and(|t| affix(argument, t, false)),
        "equals-ignore-case" => text.zip(argument.as_str()).is_some_and(|(t, a)| t.eq_ignore_ascii_case(a)),
        "wildcard" => text.zip(argument.as_str()).is_some_and(|(t, a)| wildcard(a, t)),
        "anything-but" => match argument {
            Value::Array(values) => !values.iter().any(|v| equal(v, value)),
            Value::Object(inner) => match inner.iter().next() {
                Some((kind, Value::String(a))) => {
                    text.is_some_and(|t| if kind == "prefix" { !t.starts_with(a) } else { !t.ends_with(a) })
                }
                _ => false,
            },
            single => !equal(single, value),
        },
        "numeric" => value.as_f64().is_some_and(|n| numeric(argument, n)),
        _ => false,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn affix(argument: &Value, text: &str, prefix: bool) -> bool {
    let (needle, ignore_case) = match argument {
        Value::String(s) => (s.as_str(), false),
        Value::Object(inner) => (inner.get("equals-ignore-case").and_then(Value::as_str).unwrap_or_default(), true),
        _ => return false,
    };
    let (text, needle) =
        if ignore_case { (text.to_lowercase(), needle.to_lowercase()) } else { (text.to_owned(), needle.to_owned()) };
    if prefix { text.starts_with(&needle) } else { text.ends_with(&needle) }
}

fn numeric(terms: &Value, n: f64) -> bool {
    let terms = terms.as_array().map(Vec::as_slice).unwrap_or_default();
    terms.chunks(2).all(|pair| {
        let bound = pair.get(1).and_then(Value::as_f64).unwrap_or(f64::NAN);
        match pair[0].as_str() {
            Some("<") => n < bound,
            Some("<=") => n <= bound,
            Some("=") => n == bound,
            Some(">") => n > bound,
            Some(">=") => n >= bound,
            _ => false,
        }
    })
}

/// `*` matches any run of characters (EventBridge's `wildcard`).
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return text == pattern;
    }
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pattern(value: Value) -> Pattern {
        Pattern::parse(value).unwrap()
    }

    /// The example event of AWS's "Amazon EventBridge event patterns" page.
    fn ec2_event() -> Value {
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
            "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1",
            "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
            "detail": { "instance-id": "i-1234567890abcdef0", "state": "terminated", "c-count": 5, "d-count": 3,
                        "x-limit": 301.8, "source-ip": "10.0.0.33" }
        })
    }

    #[test]
    fn documented_examples_match_as_in_eventbridge() {
        let event = ec2_event();
        assert!(pattern(json!({"source": ["aws.ec2"]})).matches(&event));
        assert!(!pattern(json!({"source": ["aws.s3"]})).matches(&event));
        assert!(pattern(json!({"detail": {"state": ["terminated", "stopped"]}})).matches(&event));
        assert!(pattern(json!({"time": [{"prefix": "2017-12-22"}]})).matches(&event));
        assert!(pattern(json!({"detail": {"state": [{"suffix": "ated"}]}})).matches(&event));
        assert!(pattern(json!({"detail": {"state": [{"anything-but": "initializing"}]}})).matches(&event));
        assert!(!pattern(json!({"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}})).matches(&event));
        assert!(!pattern(json!({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}})).matches(&event));
        assert!(pattern(json!({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}})).matches(&event));
        assert!(!pattern(json!({"detail": {"d-count": [{"numeric": ["<", 3]}]}})).matches(&event));
        assert!(pattern(json!({"detail": {"x-limit": [{"numeric": ["=", 301.8]}]}})).matches(&event));
        assert!(pattern(json!({"detail": {"c-count": [5.0]}})).matches(&event));
        assert!(pattern(json!({"detail": {"state": [{"exists": true}]}})).matches(&event));
        assert!(pattern(json!({"detail": {"missing": [{"exists": false}]}})).matches(&event));
        assert!(!pattern(json!({"detail": {"missing": ["x"]}})).matches(&event));
        assert!(pattern(json!({"source": [{"equals-ignore-case": "AWS.EC2"}]})).matches(&event));
        assert!(pattern(json!({"detail-type": [{"wildcard": "EC2*State-change*"}]})).matches(&event));
        assert!(!pattern(json!({"detail-type": [{"wildcard": "S3*"}]})).matches(&event));
        assert!(pattern(json!({"resources": [{"prefix": "arn:aws:ec2:us-west-1"}]})).matches(&event));
        assert!(
            pattern(json!({"$or": [{"detail": {"c-count": [{"numeric": [">", 10]}]}}, {"detail": {"d-count": [3]}}]}))
                .matches(&event)
        );
    }

    #[test]
    fn invalid_patterns_name_the_field() {
        for (value, expected) in [
            (json!({}), "at least one field"),
            (json!(["shop"]), "a table of event fields"),
            (json!({"source": "shop"}), "pattern.source: must be a non-empty list"),
            (json!({"source": []}), "pattern.source: must be a non-empty list"),
            (json!({"detail": {"n": [{"numeric": [">"]}]}}), "pattern.detail.n: `numeric` takes"),
            (json!({"source": [{"regex": "x"}]}), "`regex` with this argument is not an EventBridge matcher"),
            (json!({"source": [{"prefix": "a", "suffix": "b"}]}), "exactly one operator"),
            (json!({"ip": [{"cidr": "10.0.0.0/8"}]}), "not supported"),
            (json!({"$or": [{"a": ["x"]}]}), "at least two patterns"),
        ] {
            let error = Pattern::parse(value.clone()).unwrap_err();
            assert!(error.contains(expected), "{value}: {error}");
        }
    }
}
