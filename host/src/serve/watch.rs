//! Live reload for `plughost serve`: watches the manifest and every plugin file, and on a
//! change asks [`App::reload`] for a complete new table.
//!
//! Directories are watched, not files: build tools replace files (new inode), which a
//! file watch would miss. Events are debounced so a multi-step write reloads once; a
//! half-written file just fails to load, and the write that completes it triggers
//! another attempt. A failed reload is logged and changes nothing.

use crate::app::App;
use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const DEBOUNCE: Duration = Duration::from_millis(200);

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
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(DEBOUNCE, move |result| {
        let _closed = tx.send(result);
    })?;
    let mut watched = Watched::default();
    watched.update(&mut debouncer, &app);

    let task = tokio::spawn(async move {
        while let Some(result) = rx.recv().await {
            let events = match result {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, "file watcher error");
                    continue;
                }
            };
            let changed: Vec<&Path> =
                events.iter().map(|e| e.path.as_path()).filter(|p| watched.is_relevant(p)).collect();
            let Some(first) = changed.first() else { continue };
            tracing::info!(path = %first.display(), "change detected; reloading");
            let serving = app.table().generation;
            match app.reload().await {
                Ok(table) => {
                    let plugins = table.plugins().iter().map(|p| format!("{}@{}", p.id, &p.digest[..12]));
                    tracing::info!(
                        generation = table.generation,
                        plugins = plugins.collect::<Vec<_>>().join(" "),
                        "reloaded: new requests use the new table"
                    );
                    watched.update(&mut debouncer, &app);
                }
                Err(error) => tracing::error!(
                    serving_generation = serving,
                    "reload rejected, still serving the previous version: {error:#}"
                ),
            }
        }
    });
    Ok(WatchHandle { task })
}

/// The files whose change triggers a reload, and the directories watched for them.
#[derive(Default)]
struct Watched {
    files: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

impl Watched {
    fn update(&mut self, debouncer: &mut Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>, app: &App) {
        let table = app.table();
        let mut files: BTreeSet<PathBuf> = table.plugins().iter().map(|p| absolute(&p.source)).collect();
        files.insert(absolute(app.manifest_path()));
        let dirs: BTreeSet<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
        for dir in self.dirs.difference(&dirs) {
            let _gone = debouncer.watcher().unwatch(dir);
        }
        for dir in dirs.difference(&self.dirs) {
            if let Err(error) = debouncer.watcher().watch(dir, RecursiveMode::NonRecursive) {
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
