//! Fires the current table's schedule triggers on time (UTC, whole minutes for `cron`;
//! a `rate` counts from when the trigger first appeared). A firing goes through the
//! outbox like every local event, so a failed run is retried and a restart loses none
//! already due; a firing missed while the process was down is not made up (as with
//! EventBridge, a schedule fires when it is due, not later).

use crate::app::App;
use crate::capability::event::Event;
use crate::capability::message_store::LocalEvents;
use crate::spec::triggers::Trigger;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How often the scheduler looks at the clock (and at a reloaded table).
const TICK: Duration = Duration::from_millis(500);

/// Runs the scheduler until the process ends.
pub fn spawn(app: Arc<App>, events: LocalEvents) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // (plugin, schedule name, expression) -> (when it appeared, when it fires next)
        let mut next: HashMap<(String, String, String), (u64, Option<u64>)> = HashMap::new();
        loop {
            let now = crate::capability::clock::unix_seconds();
            let table = app.table();
            let mut current = HashMap::new();
            for plugin in table.plugins() {
                for trigger in &plugin.triggers {
                    let Trigger::Schedule { name, schedule } = trigger else { continue };
                    let key = (plugin.id.to_string(), name.clone(), schedule.expression().to_owned());
                    let (start, mut due) = next.remove(&key).unwrap_or_else(|| (now, schedule.next_after(now, now)));
                    if let Some(time) = due.filter(|time| *time <= now) {
                        let event = Event::Schedule { plugin: key.0.clone(), name: name.clone(), time };
                        if let Err(error) = events.enqueue(&event).await {
                            tracing::error!(plugin = %plugin.id, schedule = name, "cannot fire a schedule: {error:#}");
                        }
                        due = schedule.next_after(start, time.max(now));
                    }
                    current.insert(key, (start, due));
                }
            }
            next = current;
            tokio::time::sleep(TICK).await;
        }
    })
}
