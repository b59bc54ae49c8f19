//! Delivers what the local event sources accepted: each consumed queue's messages to its
//! consumer (like Lambda's SQS poller: a batch at a time per queue, failed messages back
//! after the visibility timeout, dead-lettered after `max_receives`), and outbox events to
//! their plugins (retried with backoff, then dead-lettered). Also keeps the embedded
//! backends' event feeds watching the labels that have triggers, and moves what they
//! recorded into the outbox. Follows the current routing table: a reload changes
//! consumers and watched labels at once.

use crate::app::App;
use crate::capability::event::Event;
use crate::capability::message_store::sqlite::{Due, LocalEvents, Received};
use crate::observability::escape::escape_controls;
use crate::spec::triggers::Trigger;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Outbox events delivered at once.
const OUTBOX_BATCH: u32 = 16;
/// The longest the pump sleeps without being woken (a message whose visibility ended).
const IDLE: Duration = Duration::from_millis(250);

/// Runs the pump until the process ends. Call [`watch_triggered_labels`] first, so
/// writes are recorded from the first request on.
pub fn spawn(app: Arc<App>, events: LocalEvents) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
        let outbox_busy = Arc::new(tokio::sync::Semaphore::new(1));
        let mut watched = BTreeMap::new();
        loop {
            watch_triggered_labels(&app, &mut watched).await;
            take_recorded_events(&app, &events).await;
            start_queue_batches(&app, &events, &busy);
            if let Ok(permit) = outbox_busy.clone().try_acquire_owned() {
                let (app, events) = (app.clone(), events.clone());
                tokio::spawn(async move {
                    drain_outbox(&app, &events).await;
                    drop(permit);
                });
            }
            tokio::select! {
                () = events.wake.notified() => {}
                () = tokio::time::sleep(IDLE) => {}
            }
        }
    })
}

/// Makes each embedded event feed watch the labels the current table has triggers on
/// (`object` triggers for containers, `changes` for stores); `watched` remembers what each
/// feed was last told, so unchanged sets cost nothing.
pub async fn watch_triggered_labels(app: &App, watched: &mut BTreeMap<&'static str, BTreeSet<String>>) {
    let table = app.table();
    for (word, feed) in app.capabilities().event_feeds() {
        let labels: BTreeSet<String> = table
            .plugins()
            .iter()
            .flat_map(|plugin| &plugin.triggers)
            .filter_map(|trigger| trigger.emitted().filter(|(emitted, _)| *emitted == word))
            .map(|(_, label)| label.to_owned())
            .collect();
        if watched.get(word) == Some(&labels) {
            continue;
        }
        match feed.watch(labels.clone()).await {
            Ok(()) => {
                tracing::debug!(trigger = word, labels = ?labels, "recording events of these labels");
                watched.insert(word, labels);
            }
            Err(error) => tracing::error!(trigger = word, "cannot update the watched labels: {error:#}"),
        }
    }
}

/// Moves the events the embedded backends recorded into the outbox (then forgets them
/// there): from now on they are delivered and retried like every local event. A crash in
/// between delivers one twice, never none.
async fn take_recorded_events(app: &App, events: &LocalEvents) {
    for (word, feed) in app.capabilities().event_feeds() {
        let recorded = match feed.pending(64).await {
            Ok(recorded) => recorded,
            Err(error) => {
                tracing::error!(trigger = word, "cannot read recorded events: {error:#}");
                continue;
            }
        };
        for (seq, event) in recorded {
            if let Err(error) = events.enqueue(&event).await {
                tracing::error!(trigger = word, "cannot accept a recorded event: {error:#}");
                return;
            }
            if let Err(error) = feed.done(seq).await {
                tracing::error!(trigger = word, "cannot forget a recorded event: {error:#}");
            }
        }
    }
}

/// For every consumed queue without a batch in flight, receives and delivers one batch
/// in the background.
fn start_queue_batches(app: &Arc<App>, events: &LocalEvents, busy: &Arc<Mutex<HashSet<String>>>) {
    let table = app.table();
    for plugin in table.plugins() {
        for trigger in &plugin.triggers {
            let Trigger::Queue { queue, batch } = trigger else { continue };
            let Some(spec) = table.manifest.sources.queues.get(queue).cloned() else { continue };
            if polled_from_sqs(app, queue) {
                continue; // `sqs.rs` consumes it
            }
            if !busy.lock().unwrap_or_else(|p| p.into_inner()).insert(queue.clone()) {
                continue;
            }
            let (app, events, busy, queue, batch) = (app.clone(), events.clone(), busy.clone(), queue.clone(), *batch);
            tokio::spawn(async move {
                match events.receive(&queue, batch, spec.visibility_timeout).await {
                    Ok(messages) if !messages.is_empty() => {
                        let deliveries =
                            messages.iter().map(|m| deliver_message(&app, &events, &queue, m, spec.max_receives));
                        let handled: Vec<String> =
                            futures::future::join_all(deliveries).await.into_iter().flatten().collect();
                        // One transaction for the batch's acknowledgements. If it fails, the
                        // messages come back after their visibility timeout: delivered twice,
                        // never lost.
                        if let Err(error) = events.acknowledge(handled).await {
                            tracing::error!(queue, "cannot acknowledge handled messages: {error:#}");
                        }
                        events.wake.notify_one(); // there may be more
                    }
                    Ok(_) => {}
                    Err(error) => tracing::error!(queue, "cannot receive from the local queue: {error:#}"),
                }
                busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&queue);
            });
        }
    }
}

/// Whether `queue` is bound to SQS with a URL (then `sqs.rs` consumes it, not this pump).
pub fn polled_from_sqs(app: &App, queue: &str) -> bool {
    app.capabilities().aws().is_some() && crate::routing::addresses::queue_url(app.capabilities(), queue).is_some()
}

/// Delivers one message to its queue's consumer: its id when handled (to acknowledge),
/// else recorded as failed (back after the visibility timeout, or dead-lettered).
async fn deliver_message(
    app: &App,
    events: &LocalEvents,
    queue: &str,
    message: &Received,
    max_receives: u32,
) -> Option<String> {
    let event = Event::Message {
        queue: queue.to_owned(),
        message_id: message.id.clone(),
        body: message.body.clone(),
        attributes: message.attributes.clone(),
        receive_count: message.receive_count,
    };
    let delivery = app.deliver(&event, &format!("local-queue/{queue}"), None).await;
    let reason = if delivery.targets == 0 {
        // The consumer went away with a reload between receive and delivery.
        "no plugin consumes this queue now".to_owned()
    } else if delivery.succeeded() {
        return Some(message.id.clone());
    } else {
        delivery.describe_failures()
    };
    match events.failed(queue, message, max_receives, &reason).await {
        Ok(true) => tracing::warn!(
            queue,
            message_id = %message.id,
            receives = message.receive_count,
            reason = %escape_controls(&reason),
            "message dead-lettered after max_receives"
        ),
        Ok(false) => {}
        Err(error) => tracing::error!(queue, "cannot record a failed message: {error:#}"),
    }
    None
}

/// A notification's body becomes a message of each queue subscribed to its topic (SNS
/// raw message delivery), once: the outbox row then records that it was forwarded, so
/// retries of the plugins' deliveries do not send it again. A forward that fails is an
/// error (the event is retried, then dead-lettered, never dropped); a crash in between may
/// send it twice. Returns how many queues got it.
async fn forward_to_subscribed_queues(
    app: &App,
    events: &LocalEvents,
    topic: &str,
    body: &str,
    attributes: &[(String, String)],
) -> Result<usize, String> {
    let table = app.table();
    let mut forwarded = 0;
    for queue in table.manifest.sources.subscribers_of(topic) {
        let sent = match crate::routing::addresses::queue_url(app.capabilities(), queue) {
            Some(url) if polled_from_sqs(app, queue) => {
                crate::serve::sources::sqs_poller::send(app, url, body.to_owned(), attributes.to_vec(), None)
                    .await
                    .map(drop)
            }
            _ => events.send(queue, body.as_bytes().to_vec(), attributes.to_vec()).await.map(drop),
        };
        sent.map_err(|error| format!("cannot forward the notification to subscribed queue `{queue}`: {error:#}"))?;
        forwarded += 1;
    }
    Ok(forwarded)
}

/// Delivers due outbox events until none is due.
async fn drain_outbox(app: &App, events: &LocalEvents) {
    loop {
        let due = match events.due(OUTBOX_BATCH).await {
            Ok(due) if due.is_empty() => return,
            Ok(due) => due,
            Err(error) => {
                tracing::error!("cannot read the local outbox: {error:#}");
                return;
            }
        };
        futures::future::join_all(due.iter().map(|due| deliver_outbox(app, events, due))).await;
    }
}

async fn deliver_outbox(app: &App, events: &LocalEvents, due: &Due) {
    let forwarded = match &due.event {
        Event::Notification { topic, body, attributes, forwarded: false, .. } => {
            let forwarded = forward_to_subscribed_queues(app, events, topic, body, attributes).await;
            // Recorded only when a queue got it: a topic without subscribed queues costs no write.
            if forwarded.as_ref().is_ok_and(|count| *count > 0) {
                let mut done = due.event.clone();
                if let Event::Notification { forwarded, .. } = &mut done {
                    *forwarded = true;
                }
                if let Err(error) = events.update(due.seq, &done).await {
                    tracing::error!("cannot record a forwarded notification: {error:#}");
                }
            }
            forwarded.map(drop)
        }
        _ => Ok(()),
    };
    let outcome = match forwarded {
        Ok(()) => {
            let delivery = app.deliver(&due.event, "local-outbox", None).await;
            if delivery.succeeded() { Ok(()) } else { Err(delivery.describe_failures()) }
        }
        Err(why) => Err(why),
    };
    let recorded = match &outcome {
        Ok(()) => events.delivered(due.seq).await.map(|()| false),
        Err(reason) => events.retry(due, reason).await,
    };
    match (recorded, outcome) {
        (Ok(true), Err(reason)) => tracing::warn!(
            kind = due.event.kind(),
            event_id = %escape_controls(&due.event.id()),
            reason = %escape_controls(&reason),
            "event dead-lettered after {} attempts",
            crate::capability::message_store::sqlite::MAX_ATTEMPTS
        ),
        (Err(error), _) => tracing::error!("cannot record an outbox delivery: {error:#}"),
        _ => {}
    }
}
