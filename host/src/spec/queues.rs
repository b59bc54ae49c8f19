//! A queue's declaration in the manifest: `[queue.<label>]` and its delivery rules, the
//! same for every plugin that sends to it and for its consumer.
//!
//! ```toml
//! [queue.orders]
//! max_receives = 5               # receives before a failing message is dead-lettered (1..=1000)
//! visibility_timeout = "30s"     # how long a received message stays invisible (1s..=12h)
//! fifo = false                   # ordered per message group, deduplicated (an SQS FIFO queue)
//! topics = ["alerts"]            # subscribed to these topics: each notification's body arrives here
//! ```
//!
//! The embedded queue applies these rules itself; in AWS Terraform sets the SQS queue's
//! visibility timeout, redrive policy, FIFO attribute and SNS subscriptions from the same
//! values (`plughost tfvars`).

use super::section::parse_declaration;
use serde::Deserialize;
use std::time::Duration;

/// A queue's delivery rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Receives after which a message that keeps failing goes to the dead-letter queue.
    pub max_receives: u32,
    /// How long a received message stays invisible before it is delivered again.
    pub visibility_timeout: Duration,
    /// Messages carry a group id and are delivered in order within their group, one at a
    /// time; a deduplication id sent twice in five minutes is delivered once.
    pub fifo: bool,
    /// Topics whose notifications this queue receives (their bodies become its messages).
    pub topics: Vec<String>,
}

impl Default for QueueSpec {
    fn default() -> Self {
        Self { max_receives: 5, visibility_timeout: Duration::from_secs(30), fifo: false, topics: Vec::new() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    max_receives: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    visibility_timeout: Option<Duration>,
    #[serde(default)]
    fifo: bool,
    #[serde(default)]
    topics: Vec<String>,
}

impl QueueSpec {
    /// Parses and checks a `[queue.<label>]` table (that its `topics` are declared is the
    /// manifest's check, which sees every section).
    pub fn parse(table: &toml::Table) -> Result<Self, String> {
        let raw: RawQueue = parse_declaration(table)?;
        let defaults = Self::default();
        let spec = Self {
            max_receives: raw.max_receives.unwrap_or(defaults.max_receives),
            visibility_timeout: raw.visibility_timeout.unwrap_or(defaults.visibility_timeout),
            fifo: raw.fifo,
            topics: raw.topics,
        };
        if !(1..=1000).contains(&spec.max_receives) {
            return Err(format!("max_receives {} is outside 1..=1000", spec.max_receives));
        }
        if spec.visibility_timeout < Duration::from_secs(1) || spec.visibility_timeout > Duration::from_secs(12 * 3600)
        {
            return Err("visibility_timeout must be within 1s..=12h (SQS's bounds)".into());
        }
        if spec.fifo && !spec.topics.is_empty() {
            return Err("topics: a FIFO queue cannot subscribe to a standard topic".into());
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<QueueSpec, String> {
        QueueSpec::parse(&toml::from_str(text).unwrap())
    }

    #[test]
    fn delivery_rules_default_like_sqs_and_stay_within_its_bounds() {
        assert_eq!(parse("").unwrap(), QueueSpec::default());
        let spec = parse("max_receives = 3\nvisibility_timeout = \"10s\"\nfifo = true").unwrap();
        assert_eq!((spec.max_receives, spec.visibility_timeout, spec.fifo), (3, Duration::from_secs(10), true));
        assert_eq!(parse("max_receives = 0").unwrap_err(), "max_receives 0 is outside 1..=1000");
        assert!(parse("visibility_timeout = \"13h\"").unwrap_err().contains("1s..=12h"));
        assert!(parse("fifo = true\ntopics = [\"a\"]").unwrap_err().contains("FIFO"));
        assert!(parse("retries = 1").unwrap_err().contains("unknown field `retries`"));
    }
}
