//! Starting and stopping a sandbox: [`Sandbox::start`] binds 127.0.0.1, runs the server on its
//! own runtime thread (so sync and async callers alike can use it), and hands back a
//! [`SandboxHandle`] that stops it on drop. Also the accept loop and housekeeping (reaper,
//! state snapshot).

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::{watch, Notify};
use tower_service::Service;

use crate::app::App;
use crate::config::SandboxConfig;
use crate::error::SandboxError;
use crate::persist;
use crate::routes;
use crate::state::ContainerState;

/// Lets a handler tear down its own connection (used to drop a PUT mid-body).
#[derive(Clone, Default)]
pub struct ConnControl(Arc<Notify>);

impl ConnControl {
    /// Asks the connection task to drop the socket now, without a response.
    pub fn kill(&self) {
        self.0.notify_one();
    }

    async fn killed(&self) {
        self.0.notified().await;
    }
}

/// Entry point for in-process use.
pub struct Sandbox;

/// A running sandbox; dropping it (or [`SandboxHandle::shutdown`]) stops the server.
pub struct SandboxHandle {
    base_url: String,
    projects: Vec<String>,
    data_dir: PathBuf,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    // Dropped after the thread has stopped, so the temp dir outlives every request.
    _temp: Option<tempfile::TempDir>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The projects this run serves (the first is the default one).
    pub fn projects(&self) -> &[String] {
        &self.projects
    }

    /// Where objects, the state file and the `state.json` snapshot live.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the server and waits for it.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl Sandbox {
    /// Binds and starts serving; returns the base URL and the handle that owns the server.
    pub fn start(config: SandboxConfig) -> Result<(String, SandboxHandle), SandboxError> {
        let (temp, data_dir) = match &config.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("layers-sandbox-")
                    .tempdir()
                    .map_err(|source| SandboxError::DataDir {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        // Partial bodies from a previous run that died mid-PUT are never objects.
        let _ = std::fs::remove_dir_all(data_dir.join("tmp"));
        for sub in ["objects", "tmp"] {
            let p = data_dir.join(sub);
            std::fs::create_dir_all(&p)
                .map_err(|source| SandboxError::DataDir { path: p, source })?;
        }

        let listener = bind(config.port, &data_dir)?;
        let port = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind {
                port: config.port,
                source,
            })?
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let loaded =
            persist::load(&data_dir, &base_url).map_err(|e| SandboxError::State(e.to_string()))?;
        if loaded.is_some() {
            tracing::info!(data_dir = %data_dir.display(), "state of the previous run reloaded");
        }

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("layers-sandbox-worker")
            .enable_all()
            .build()
            .map_err(SandboxError::Runtime)?;
        let app = Arc::new(App::new(config, base_url.clone(), data_dir.clone(), loaded));
        let projects = app.projects.clone();
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("layers-sandbox".to_string())
            .spawn(move || {
                runtime.block_on(serve(listener, app, stopped));
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .map_err(SandboxError::Runtime)?;
        tracing::info!(%base_url, "sandbox listening");
        Ok((
            base_url.clone(),
            SandboxHandle {
                base_url,
                projects,
                data_dir,
                stop,
                thread: Some(thread),
                _temp: temp,
            },
        ))
    }
}

/// Binds 127.0.0.1:`port`; with port 0, the previous run's port in this data dir when it is
/// free (so URLs a client saved stay valid across a restart), else any free one.
fn bind(port: u16, data_dir: &Path) -> Result<StdListener, SandboxError> {
    let open = |p: u16| {
        StdListener::bind(("127.0.0.1", p)).and_then(|l| l.set_nonblocking(true).map(|_| l))
    };
    if port == 0 {
        let previous = persist::saved_base_url(data_dir)
            .and_then(|u| u.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()));
        if let Some(l) = previous.and_then(|p| open(p).ok()) {
            return Ok(l);
        }
    }
    open(port).map_err(|source| SandboxError::Bind { port, source })
}

async fn serve(listener: StdListener, app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot register the listener");
            return;
        }
    };
    let router = routes::router(app.clone());
    tokio::spawn(housekeeping(app.clone(), stopped.clone()));
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let router = router.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let control = ConnControl::default();
                    let per_request = control.clone();
                    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(per_request.clone());
                        let mut router = router.clone();
                        async move { router.call(req).await }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = control.killed() => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        }
    }
}

/// Reaps abandoned sessions, saves what that changed, and writes `state.json` (a readable
/// snapshot with the request log, for inspection only), a few times a second.
async fn housekeeping(app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let reap_ms = app.config.reap_after.as_millis() as u64;
    let tick = Duration::from_millis((reap_ms / 4).clamp(100, 1000));
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        reap(&app, reap_ms).await;
        // Anything changed outside a request (reaping) is saved here; requests save their own.
        if let Err(e) = app.persist().await {
            tracing::error!(error = %e, "cannot save the sandbox state");
        }
        if app.take_dirty() {
            let text = {
                let world = app.world();
                serde_json::to_vec_pretty(&routes::admin::snapshot(&app, &world))
            };
            // Reading the world above marked it dirty again; clear that.
            app.take_dirty();
            if let Ok(text) = text {
                let tmp = app.data_dir().join("state.json.tmp");
                let dest = app.data_dir().join("state.json");
                if tokio::fs::write(&tmp, text).await.is_ok() {
                    let _ = tokio::fs::rename(&tmp, &dest).await;
                }
            }
        }
    }
}

async fn reap(app: &App, reap_ms: u64) {
    let now = app.now_ms();
    let due: Vec<String> = app
        .world()
        .containers
        .values()
        .filter(|c| c.state == ContainerState::Reserved && now >= c.created_at_ms + reap_ms)
        .map(|c| c.container_id.clone())
        .collect();
    for id in due {
        if !app.container_idle(&id) {
            continue; // a finalize is running; it decides
        }
        reap_container(app, &id).await;
    }
}

/// Reaps one reserved container now: quota freed, its objects deleted. The caller holds the
/// container's lock or knows it is idle. Returns whether it was reaped.
pub(crate) async fn reap_container(app: &App, id: &str) -> bool {
    let keys = {
        let mut world = app.world();
        let Some(c) = world.containers.get_mut(id) else {
            return false;
        };
        if c.state != ContainerState::Reserved {
            return false;
        }
        c.state = ContainerState::Reaped;
        let keys: Vec<String> = c.files.iter().map(|f| f.r2_key.clone()).collect();
        for k in &keys {
            world.objects.remove(k);
        }
        keys
    };
    // Saved before the bytes go: a crash in between leaves a reaped container, never a
    // reserved one whose objects are missing.
    if let Err(e) = app.persist().await {
        tracing::error!(error = %e, "cannot save the sandbox state");
    }
    for k in keys {
        let _ = tokio::fs::remove_file(app.object_path(&k)).await;
    }
    tracing::info!(container = id, "abandoned session reaped; quota freed");
    true
}
