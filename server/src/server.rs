//! The server's shared state: the engine, the configuration, the client registry and the
//! counters INFO reports.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use strata_engine::{Counter, Engine};

use crate::client::Registry;
use crate::config::Config;

#[derive(Default)]
pub struct ServerStats {
    pub total_connections: AtomicU64,
    pub total_commands: Counter,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub error_replies: AtomicU64,
    pub peak_memory: AtomicUsize,
    /// INFO's instantaneous_ops_per_sec, kept by the cron's [`OpsSampler`].
    pub ops_per_sec: AtomicU64,
}

/// Commands per second over the last ~1.6 s, from samples of `total_commands` taken by the
/// cron (Redis keeps 16 samples, one per 100 ms, the same way).
#[derive(Default)]
pub struct OpsSampler {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl OpsSampler {
    pub fn sample(&mut self, srv: &Server) {
        let now = Instant::now();
        self.samples
            .push_back((now, srv.stats.total_commands.get()));
        while self.samples.len() > 16 {
            self.samples.pop_front();
        }
        if let (Some(&(t0, c0)), Some(&(t1, c1))) = (self.samples.front(), self.samples.back()) {
            let secs = t1.duration_since(t0).as_secs_f64();
            let rate = if secs > 0.0 {
                c1.saturating_sub(c0) as f64 / secs
            } else {
                0.0
            };
            srv.stats.ops_per_sec.store(rate as u64, Ordering::Relaxed);
        }
    }
}

impl ServerStats {
    pub fn reset(&self) {
        self.total_commands.reset();
        for c in [
            &self.total_connections,
            &self.rejected_connections,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.error_replies,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Directives read on every request, cached as atomics (refreshed by CONFIG SET).
#[derive(Default)]
pub struct HotConfig {
    pub hz: AtomicU64,
    pub timeout: AtomicU64,
    pub query_buffer_limit: AtomicU64,
}

pub struct Server {
    pub engine: Arc<Engine>,
    pub hot: HotConfig,
    pub config: Config,
    pub clients: Registry,
    pub pubsub: Arc<crate::pubsub::Hub>,
    pub blocking: crate::blocking::Registry,
    pub scripts: crate::scripting::Scripts,
    /// The write-ahead log (`appendonly`, which CONFIG SET turns on and off).
    pub durability: Arc<crate::durability::Durability>,
    /// True while the log is replayed at startup: commands without the `loading` flag get
    /// -LOADING.
    pub loading: std::sync::atomic::AtomicBool,
    /// Snapshot bookkeeping: last save time, background save state.
    pub saves: Arc<crate::durability::SaveState>,
    pub stats: ServerStats,
    pub started: Instant,
    pub started_unix: u64,
    pub run_id: String,
    pub port: u16,
    pub config_file: String,
}

impl Server {
    pub fn new(
        engine: Arc<Engine>,
        config: Config,
        port: u16,
        durability: Arc<crate::durability::Durability>,
    ) -> Server {
        let run_id: String = (0..40)
            .map(|_| {
                let n: u8 = rand::random::<u8>() % 16;
                char::from_digit(n as u32, 16).unwrap_or('0')
            })
            .collect();
        let config_file = config
            .file
            .as_ref()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let hot = HotConfig::default();
        hot.timeout
            .store(config.get_u64("timeout"), Ordering::Relaxed);
        hot.query_buffer_limit.store(
            config.get_u64("client-query-buffer-limit"),
            Ordering::Relaxed,
        );
        let started_unix = crate::durability::unix_now();
        let srv = Server {
            engine,
            hot,
            config,
            clients: Registry::default(),
            pubsub: Arc::new(crate::pubsub::Hub::default()),
            blocking: crate::blocking::Registry::default(),
            scripts: crate::scripting::Scripts::new(),
            durability,
            loading: std::sync::atomic::AtomicBool::new(false),
            saves: Arc::new(crate::durability::SaveState::new(started_unix)),
            stats: ServerStats::default(),
            started: Instant::now(),
            started_unix,
            run_id,
            port,
            config_file,
        };
        srv.refresh_hot();
        srv.engine
            .set_notifier(Box::new(crate::pubsub::KeyspaceEvents(srv.pubsub.clone())));
        srv
    }

    /// Makes everything logged durable before the process exits (SHUTDOWN, SIGTERM).
    pub fn prepare_exit(&self) {
        self.durability.close();
    }

    /// Re-reads the cached directives after CONFIG SET.
    pub fn refresh_hot(&self) {
        let limits = self.config.get("client-output-buffer-limit");
        let words: Vec<&str> = limits.split_whitespace().collect();
        if let Some(g) = words.chunks_exact(4).find(|g| g[0] == "pubsub") {
            let l = &self.pubsub.limits;
            l.hard.store(g[1].parse().unwrap_or(0), Ordering::Relaxed);
            l.soft.store(g[2].parse().unwrap_or(0), Ordering::Relaxed);
            l.soft_secs
                .store(g[3].parse().unwrap_or(0), Ordering::Relaxed);
        }
        self.hot
            .timeout
            .store(self.config.get_u64("timeout"), Ordering::Relaxed);
        self.hot.query_buffer_limit.store(
            self.config.get_u64("client-query-buffer-limit"),
            Ordering::Relaxed,
        );
    }

    pub fn used_memory(&self) -> usize {
        let used = crate::alloc::used_memory();
        self.stats.peak_memory.fetch_max(used, Ordering::Relaxed);
        used
    }

    /// Memory as eviction counts it: used memory less what it does not count
    /// (`mem_not_counted_for_evict`).
    fn memory_for_eviction(&self) -> usize {
        self.used_memory()
            .saturating_sub(self.engine.not_counted_for_evict())
    }

    /// Evicts keys until memory is under `maxmemory` or nothing more can be evicted.
    /// Returns false when memory is still over the limit.
    pub fn enforce_maxmemory(&self) -> bool {
        let max = self.engine.config.maxmemory.load(Ordering::Relaxed) as usize;
        if max == 0 {
            return true;
        }
        if let Some(t) = &self.engine.tier {
            // Admission gets choosy from 95% of the limit: a faulted key then stays in RAM only
            // if it is asked for more often than what it would push out.
            t.pressure.store(
                self.memory_for_eviction() > max - max / 20,
                Ordering::Relaxed,
            );
        }
        // Bounded: each round frees one key; a million rounds is far beyond any real backlog.
        for _ in 0..1_000_000 {
            if self.memory_for_eviction() <= max {
                return true;
            }
            if !self.engine.evict_one_or_wait() {
                return false;
            }
        }
        self.memory_for_eviction() <= max
    }
}
