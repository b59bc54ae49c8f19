//! Live reload for `plughost serve`: watches the manifest, every plugin file and the
//! secrets file, and on a change asks [`App::reload`] for a complete new table. A
//! deployment in S3 has no files to watch: [`poll`] asks every `refresh` instead (each
//! ask is one conditional GET while nothing changed).
//!
//! - Directories are watched, not files: build tools replace files (new inode), which a
//!   file watch would miss.
//! - Only writes, creates, renames and removals count. Reads do not: the reload itself
//!   reads every watched file, and counting those would reload forever.
//! - Events are debounced: after the first relevant event we wait until the directory
//!   has been quiet for [`QUIET`], so a multi-step write reloads once. A half-written file
//!   fails to load and the write that completes it triggers another attempt.
//! - A failed reload is logged and changes nothing; a reload that finds nothing changed
//!   publishes nothing.

use crate::app::App;
use crate::spec::manifest::ComponentRef;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const QUIET: Duration = Duration::from_millis(200);

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn spawn(app: Arc<App>) -> anyhow::Result<WatchHandle> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _closed = tx.send(event);
    })?;
    let mut watched = Watched::default();
    watched.update(&mut watcher, &app);

    let task = tokio::spawn(async move {
        while let Some(first) = next_change(&mut rx, &watched).await {
            settle(&mut rx).await;
            tracing::info!(path = %first.display(), "change detected; reloading");
            if app.reload_and_log(true).await {
                watched.update(&mut watcher, &app);
            }
        }
    });
    Ok(WatchHandle { task })
}

/// Reloads every `refresh` (a deployment in S3).
pub fn poll(app: Arc<App>, refresh: Duration) -> WatchHandle {
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(refresh);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            app.reload_and_log(false).await;
        }
    });
    WatchHandle { task }
}

/// Waits for an event that changes a watched file; returns that file.
async fn next_change(rx: &mut UnboundedReceiver<notify::Result<notify::Event>>, watched: &Watched) -> Option<PathBuf> {
    loop {
        match rx.recv().await? {
            Ok(event) if is_change(&event.kind) => {
                if let Some(path) = event.paths.into_iter().find(|p| watched.is_relevant(p)) {
                    return Some(path);
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "file watcher error"),
        }
    }
}

/// Swallows events until none has arrived for [`QUIET`].
async fn settle(rx: &mut UnboundedReceiver<notify::Result<notify::Event>>) {
    while let Ok(Some(_)) = tokio::time::timeout(QUIET, rx.recv()).await {}
}

fn is_change(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(_))
}

/// The files whose change triggers a reload, and the directories watched for them.
#[derive(Default)]
struct Watched {
    files: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

impl Watched {
    fn update(&mut self, watcher: &mut RecommendedWatcher, app: &App) {
        let table = app.table();
        let mut files: BTreeSet<PathBuf> = table
            .plugins()
            .iter()
            .filter_map(|p| match &p.source {
                ComponentRef::File(path) => Some(absolute(path)),
                ComponentRef::Digest(_) => None,
            })
            .collect();
        if let Some(manifest) = app.source().file() {
            files.insert(absolute(manifest));
        }
        if let Some(secrets) = app.capabilities().secrets().file() {
            files.insert(absolute(secrets));
        }
        let dirs: BTreeSet<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
        for dir in self.dirs.difference(&dirs) {
            let _gone = watcher.unwatch(dir);
        }
        for dir in dirs.difference(&self.dirs) {
            if let Err(error) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), %error, "cannot watch directory; changes there will not reload");
            }
        }
        self.files = files;
        self.dirs = dirs;
    }

    fn is_relevant(&self, path: &Path) -> bool {
        self.files.contains(&absolute(path))
    }
}

/// An absolute path with `.`/`..` resolved through the parent directory, so the same
/// file compares equal however it was named (the file itself may not exist right now).
fn absolute(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (path.parent().and_then(|p| p.canonicalize().ok()), path.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => path,
    }
}
