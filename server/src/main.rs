//! strata-server: a Redis-compatible server over Strata's engine.
//!
//! Usage is redis-server's: `strata-server [config-file] [--directive value ...]`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use strata_engine::{Engine, EngineConfig};
use strata_server::{alloc, config, conn, server, STRATA_VERSION};
use tokio::net::TcpListener;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// jemalloc's options, read before its first allocation: one arena for every thread.
///
/// With its default of four arenas a core, a value read by a cold-tier reader thread and freed
/// on an I/O thread lands in that thread's cache, and the next key it promotes is allocated
/// there: long-lived keys end up spread over every arena's partly empty pages. Under Zipf
/// reads at 10% of the dataset in RAM that held 35 MB of pages for 61 MB of allocations (RSS
/// 183 MB); with one arena 4 MB (RSS 150 MB), at the same throughput within the noise (the
/// thread caches take most allocations without touching the arena's locks). Redis keeps
/// jemalloc's default, but creates and frees its keys on one thread, so they share one
/// arena there too. `MALLOC_CONF`-style overrides still apply through `_RJEM_MALLOC_CONF`.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 10] = b"narenas:1\0";

fn cli() -> clap::Command {
    clap::Command::new("strata-server")
        .version(STRATA_VERSION)
        .about("A Redis-compatible key-value server over a persistent, tiered engine")
        .override_usage("strata-server [config-file] [--directive value ...]")
        .arg(
            clap::Arg::new("args")
                .num_args(0..)
                .allow_hyphen_values(true)
                .trailing_var_arg(true)
                .help("A redis.conf-syntax file, then directives as --name value (e.g. --port 7000 --maxmemory 1gb)"),
        )
}

/// Splits `[file] --a x --b y z` into the file and (name, value) pairs; a directive's value is
/// every word up to the next `--name` (so `--save 900 1` works as in redis-server).
/// The optional config file and the `--name value` overrides.
type Invocation = (Option<PathBuf>, Vec<(String, String)>);

fn split_args(args: &[String]) -> Result<Invocation, String> {
    let mut it = args.iter().peekable();
    let file = match it.peek() {
        Some(a) if !a.starts_with("--") => it.next().map(PathBuf::from),
        _ => None,
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for a in it {
        if let Some(name) = a.strip_prefix("--") {
            pairs.push((name.to_string(), String::new()));
        } else if let Some(last) = pairs.last_mut() {
            if !last.1.is_empty() {
                last.1.push(' ');
            }
            last.1.push_str(a);
        } else {
            return Err(format!("unexpected argument '{a}'"));
        }
    }
    Ok((file, pairs))
}

fn init_logging(level: &str, file: &str) {
    use tracing_subscriber::prelude::*;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(config::log_filter(level));
    // CONFIG SET loglevel swaps the filter at run time.
    config::set_log_reload(Box::new(move |level: &str| {
        let _ = handle.reload(config::log_filter(level));
    }));
    let registry = tracing_subscriber::registry().with(filter);
    if file.is_empty() {
        // Colours only on a terminal: a pipe or a file gets plain text.
        use std::io::IsTerminal;
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::stdout().is_terminal()),
            )
            .init();
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            Ok(f) => registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_target(false)
                        .with_ansi(false)
                        .with_writer(std::sync::Mutex::new(f)),
                )
                .init(),
            Err(e) => {
                eprintln!("Can't open the log file {file}: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// Binds every `bind` address (non-blocking std listeners, shared by the worker threads).
fn bind_listeners(bind: &str, port: u16) -> Vec<std::net::TcpListener> {
    // Redis's `bind` words: `*` is every IPv4 address, `::*` every IPv6 one, and a leading
    // `-` marks an address that may be unavailable.
    let addrs: Vec<(String, bool)> = bind
        .split_whitespace()
        .map(|b| {
            let optional = b.starts_with('-');
            let host = match b.trim_start_matches('-') {
                "*" => "0.0.0.0".to_string(),
                "::*" => "[::]".to_string(),
                h if h.contains(':') => format!("[{h}]"),
                h => h.to_string(),
            };
            (format!("{host}:{port}"), optional)
        })
        .collect();
    let mut listeners = Vec::new();
    for (a, optional) in &addrs {
        match std::net::TcpListener::bind(a).and_then(|l| l.set_nonblocking(true).map(|_| l)) {
            Ok(l) => listeners.push(l),
            Err(e) if *optional => tracing::warn!("Could not bind optional address {a}: {e}"),
            Err(e) => {
                tracing::error!("Could not create server TCP listening socket {a}: {e}");
                std::process::exit(1);
            }
        }
    }
    listeners
}

fn main() {
    let matches = cli().get_matches();
    let raw: Vec<String> = matches
        .get_many::<String>("args")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let (file, overrides) = match split_args(&raw) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("strata-server: {e}");
            std::process::exit(1);
        }
    };
    let config = match config::Config::load(file.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("*** FATAL CONFIG FILE ERROR ***\n{e}");
            std::process::exit(1);
        }
    };
    init_logging(&config.get("loglevel"), &config.get("logfile"));
    strata_server::alloc::limit_malloc_arenas();
    let dir = config.get("dir");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::error!("Can't create the data directory '{dir}': {e}");
        std::process::exit(1);
    }
    // With `appendonly yes`, every commit goes to the write-ahead log, which is replayed here
    // before any client can connect.
    let fsync = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let durability = strata_server::durability::Durability::new(
        std::path::Path::new(&dir).join(config.get("appenddirname")),
        config.get("appendfilename"),
        config.get_bool("appendonly"),
        fsync.clone(),
    );
    // The log's writer and the engine's CONFIG SET appendfsync share one setting.
    let sink = Box::new(strata_server::durability::WalSink(durability.clone()));
    // The cold tier's directory is scratch space, rebuilt from the snapshot and the log.
    let tier = config.get_bool("cold-tier").then(|| {
        let path = std::path::Path::new(&dir).join(config.get("cold-tier-dir"));
        // The admission sketch is sized for the keys in RAM at the first spill; these (the
        // keys maxmemory holds at 100 bytes each) are for one made while a snapshot or the
        // log is loaded, when the file's buffers count against maxmemory too.
        let keys = match config.get_u64("maxmemory") {
            0 => 1 << 20,
            m => (m / 100) as usize,
        };
        match strata_engine::tier::Tier::open(
            &path,
            config.get_u64("cold-tier-cache-size") as usize,
            keys,
        ) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                tracing::error!("{e}");
                std::process::exit(1);
            }
        }
    });
    let engine = Engine::open(
        EngineConfig {
            databases: config.get_u64("databases") as usize,
            shards: config.get_u64("shards") as usize,
            appendfsync: fsync,
            tier,
            ..Default::default()
        },
        Some(sink),
    );
    config.apply_all(&engine);
    engine.set_memory_probe(strata_server::alloc::used_memory);
    let pidfile = config.get("pidfile");
    if !pidfile.is_empty() {
        let _ = std::fs::write(&pidfile, format!("{}\n", std::process::id()));
    }
    let port = config.get_u64("port") as u16;
    let bind = config.get("bind");
    let srv = server::Server::new(engine.clone(), config, port, durability);
    // While the snapshot and the log are loaded, clients are accepted and answered -LOADING,
    // as Redis does. With nothing on disk there is no loading phase: the new log is opened
    // before the first client is accepted.
    let has_snapshot = strata_server::durability::snapshot_path(&srv.config).exists();
    let has_log = srv.durability.enabled() && srv.durability.has_segments();
    if has_snapshot || has_log {
        srv.loading
            .store(true, std::sync::atomic::Ordering::Relaxed);
    } else if let Err(e) = strata_server::durability::load_at_startup(&srv) {
        tracing::error!("{e}");
        std::process::exit(1);
    }
    let srv = Arc::new(srv);

    // Active expiry: Redis's cron at `hz` (re-read every tick, so CONFIG SET hz applies),
    // spending at most a quarter of each period. It starts once the log is replayed, so no key
    // expires by the wall clock in the middle of the replay.
    {
        let srv = srv.clone();
        std::thread::Builder::new()
            .name("strata-cron".into())
            .spawn(move || {
                if srv.loading.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Err(e) = strata_server::durability::load_at_startup(&srv) {
                        tracing::error!("{e}");
                        std::process::exit(1);
                    }
                    srv.loading
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                }
                let mut ops = server::OpsSampler::default();
                let mut last_trim = std::time::Instant::now();
                loop {
                    let hz = srv
                        .hot
                        .hz
                        .load(std::sync::atomic::Ordering::Relaxed)
                        .clamp(1, 500);
                    let period = Duration::from_millis(1000 / hz);
                    std::thread::sleep(period);
                    srv.engine.active_expire_cycle(period / 4);
                    if srv.config.get_bool("activerehashing") {
                        srv.engine.active_rehash(Duration::from_millis(1));
                    }
                    if srv.engine.search.active() {
                        // Keys expired or evicted since the last command leave the indexes.
                        let _gate = srv.engine.gate_shared();
                        srv.engine.search.sync(&srv.engine);
                    }
                    strata_server::durability::cron(&srv);
                    ops.sample(&srv);
                    // RocksDB's allocations are glibc's: once a second, while keys are cold.
                    let tier_active = srv.engine.tier.as_ref().is_some_and(|t| t.active());
                    if tier_active && last_trim.elapsed() >= Duration::from_secs(1) {
                        strata_server::alloc::trim_malloc();
                        last_trim = std::time::Instant::now();
                    }
                }
            })
            .expect("spawn the cron thread");
    }

    // Worker threads serving connections: `io-threads`, or one per core when 0 (the default).
    let io_threads = srv.config.get_u64("io-threads") as usize;
    let threads = if io_threads > 0 {
        io_threads
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    };
    // Thread per core: each worker runs its own single-threaded runtime, and a connection lives
    // on one worker, so no task is ever stolen or woken across cores (the shard locks are what
    // the threads share). One acceptor deals connections out to the workers in turn, so they
    // are spread evenly however fast they arrive.
    let std_listeners = bind_listeners(&bind, port);
    tracing::info!(
        version = STRATA_VERSION,
        port,
        threads,
        "Strata is ready to accept connections"
    );
    let mut workers = Vec::with_capacity(threads);
    for t in 0..threads {
        let srv = srv.clone();
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, std::net::SocketAddr)>();
        workers.push(tx);
        std::thread::Builder::new()
            .name(format!("strata-io-{t}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    // Nothing of Strata's runs on tokio's blocking pool (cold-tier reads have
                    // their own threads): keep it small, each thread costs a stack and a
                    // malloc arena.
                    .max_blocking_threads(4)
                    .enable_all()
                    .build()
                    .expect("build a worker runtime");
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    while let Some((stream, peer)) = rx.recv().await {
                        match tokio::net::TcpStream::from_std(stream) {
                            Ok(stream) => {
                                tokio::task::spawn_local(conn::serve(srv.clone(), stream, peer));
                            }
                            Err(e) => tracing::warn!("could not register a connection: {e}"),
                        }
                    }
                });
            })
            .expect("spawn a worker thread");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the signal runtime");
    let srv_signal = srv.clone();
    rt.block_on(async move {
        let workers = std::sync::Arc::new(workers);
        let turn = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for l in std_listeners {
            let l = TcpListener::from_std(l).expect("register a listening socket");
            let workers = workers.clone();
            let turn = turn.clone();
            tokio::spawn(async move {
                loop {
                    match l.accept().await {
                        Ok((stream, peer)) => {
                            let n = turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                                % workers.len();
                            match stream.into_std() {
                                Ok(s) => {
                                    let _ = workers[n].send((s, peer));
                                }
                                Err(e) => tracing::warn!("could not hand a connection over: {e}"),
                            }
                        }
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            });
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
        tracing::info!("Received shutdown signal, scheduling shutdown...");
        srv_signal.prepare_exit();
        tracing::info!("Strata is now ready to exit, bye bye...");
        std::process::exit(0);
    });
}
