//! INFO: Redis's sections and field names, plus `strata_version`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::server::Server;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
    "tiering",
];

/// Redis's human-readable byte counts (`1.50M`).
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    let units = [
        ("B", 1.0),
        ("K", 1024.0),
        ("M", 1048576.0),
        ("G", 1073741824.0),
        ("T", 1099511627776.0),
        ("P", 1125899906842624.0),
    ];
    for w in units.windows(2) {
        if n < w[1].1 {
            return if w[0].0 == "B" {
                format!("{}B", n as u64)
            } else {
                format!("{:.2}{}", n / w[0].1, w[0].0)
            };
        }
    }
    format!("{:.2}P", n / 1125899906842624.0)
}

fn cpu_times() -> (f64, f64) {
    // utime and stime (fields 14 and 15 of /proc/self/stat), in clock ticks of 1/100 s.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

pub fn render(srv: &Server, sections: &[String]) -> String {
    let all = sections.iter().any(|s| s == "all" || s == "everything");
    let wanted: Vec<&str> = if sections.is_empty() || sections.iter().any(|s| s == "default") || all
    {
        DEFAULT_SECTIONS.to_vec()
    } else {
        sections.iter().map(|s| s.as_str()).collect()
    };
    let mut out = String::new();
    for section in DEFAULT_SECTIONS {
        if !wanted.contains(section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section_text(srv, section, &mut out);
    }
    out
}

fn section_text(srv: &Server, section: &str, o: &mut String) {
    let eng = &srv.engine;
    let uptime = srv.started.elapsed().as_secs();
    match section {
        "server" => {
            let _ = write!(
                o,
                "# Server\r\nredis_version:{}\r\nstrata_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                crate::REDIS_VERSION,
                crate::STRATA_VERSION,
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                srv.run_id,
                srv.port,
                eng.now_ms() * 1000,
                uptime,
                uptime / 86400,
                srv.config.get("hz"),
                srv.config.get("hz"),
                eng.access_clock().secs & 0xff_ffff,
                std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
                srv.config_file,
            );
        }
        "clients" => {
            let clients = srv.clients.all();
            let watching = clients
                .iter()
                .filter(|c| c.watching.load(Ordering::Relaxed) > 0)
                .count();
            let watched: usize = clients
                .iter()
                .map(|c| c.watching.load(Ordering::Relaxed))
                .sum();
            let _ = write!(
                o,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\ntotal_watched_keys:{}\r\ntotal_blocking_keys:{}\r\ntotal_blocking_keys_on_nokey:0\r\nwatching_clients:{}\r\n",
                clients.len(),
                srv.config.get("maxclients"),
                srv.blocking.blocked_clients(),
                watched,
                srv.blocking.blocking_keys(),
                watching,
            );
        }
        "memory" => {
            let (lua, scripts, cached) = srv.scripts.memory();
            let used = srv.used_memory() as u64;
            let rss = crate::alloc::rss_bytes() as u64;
            let peak = srv
                .stats
                .peak_memory
                .load(Ordering::Relaxed)
                .max(used as usize) as u64;
            let dataset = eng.dataset_bytes() as u64;
            let maxmemory = eng.config.maxmemory.load(Ordering::Relaxed);
            let heap = crate::alloc::jemalloc_stats();
            let (je_alloc, je_active, je_resident) = (heap.allocated, heap.active, heap.resident);
            let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { 0.0 };
            let diff = |a: usize, b: usize| a as i64 - b as i64;
            let frag = ratio(rss as usize, used as usize);
            let _ = write!(
                o,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:0\r\nused_memory_dataset:{dataset}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{je_alloc}\r\nallocator_active:{je_active}\r\nallocator_resident:{je_resident}\r\ntotal_system_memory:{}\r\nused_memory_lua:{lua}\r\nused_memory_scripts:{scripts}\r\nnumber_of_cached_scripts:{cached}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{frag:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{}\r\nmem_allocator:jemalloc\r\nlazyfree_pending_objects:0\r\n",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(peak),
                if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 0.0 },
                used.saturating_sub(dataset),
                if used > 0 { dataset as f64 * 100.0 / used as f64 } else { 0.0 },
                total_system_memory(),
                human_bytes(maxmemory),
                eng.policy().name(),
                ratio(je_active, je_alloc),
                diff(je_active, je_alloc),
                ratio(je_resident, je_active),
                diff(je_resident, je_active),
                ratio(rss as usize, je_resident),
                diff(rss as usize, je_resident),
                diff(rss as usize, used as usize),
                eng.not_counted_for_evict(),
            );
        }
        "persistence" => {
            let loading = srv.loading.load(Ordering::Relaxed) as u8;
            let bg = srv.saves.in_progress.load(Ordering::Relaxed) as u8;
            let rw = (bg == 1 && srv.saves.rewrite.load(Ordering::Relaxed)) as u8;
            let d = &srv.durability;
            let st = &srv.saves;
            let aof_enabled = d.enabled() as u8;
            let now = crate::durability::unix_now();
            let current = if bg == 1 {
                now.saturating_sub(st.started_at.load(Ordering::Relaxed)) as i64
            } else {
                -1
            };
            let last = match st.last_secs.load(Ordering::Relaxed) {
                u64::MAX => -1,
                s => s as i64,
            };
            let (rdb_cur, aof_cur) = if rw == 1 {
                (-1, current)
            } else {
                (current, -1)
            };
            let base = st.base_size.load(Ordering::Relaxed);
            let aof_sizes = if aof_enabled == 1 {
                format!(
                    "aof_current_size:{}\r\naof_base_size:{base}\r\naof_pending_rewrite:0\r\naof_buffer_length:0\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
                    base + d.log_bytes()
                )
            } else {
                String::new()
            };
            let bg_status = if srv.saves.last_ok.load(Ordering::Relaxed) {
                "ok"
            } else {
                "err"
            };
            let aof_write = match d.error() {
                Some(_) => "err",
                None => "ok",
            };
            let _ = write!(
                o,
                "# Persistence\r\nloading:{loading}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{bg}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{bg_status}\r\nrdb_last_bgsave_time_sec:{last}\r\nrdb_current_bgsave_time_sec:{rdb_cur}\r\naof_enabled:{aof_enabled}\r\naof_rewrite_in_progress:{rw}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{last}\r\naof_current_rewrite_time_sec:{aof_cur}\r\naof_last_bgrewrite_status:{bg_status}\r\naof_rewrites:{}\r\naof_last_write_status:{aof_write}\r\n{aof_sizes}",
                eng.stats.dirty.get(),
                st.last_save.load(Ordering::Relaxed),
                st.rewrite_scheduled.load(Ordering::Relaxed) as u8,
                st.rewrites.load(Ordering::Relaxed),
            );
        }
        "stats" => {
            let s = &srv.stats;
            let e = &eng.stats;
            let ks = eng.keyspace_stats();
            let _ = write!(
                o,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\ntotal_error_replies:{}\r\n",
                s.total_connections.load(Ordering::Relaxed),
                s.total_commands.get(),
                s.ops_per_sec.load(Ordering::Relaxed),
                s.net_input_bytes.load(Ordering::Relaxed),
                s.net_output_bytes.load(Ordering::Relaxed),
                s.rejected_connections.load(Ordering::Relaxed),
                ks.expired,
                e.evicted_keys.load(Ordering::Relaxed),
                ks.hits,
                ks.misses,
                srv.pubsub.len(crate::pubsub::Kind::Channel),
                srv.pubsub.len(crate::pubsub::Kind::Pattern),
                srv.pubsub.len(crate::pubsub::Kind::Shard),
                s.error_replies.load(Ordering::Relaxed),
            );
        }
        "replication" => {
            o.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_repl_offset:0\r\nrepl_backlog_active:0\r\n");
        }
        "cpu" => {
            let (user, sys) = cpu_times();
            let _ = write!(
                o,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"
            );
        }
        "modules" => o.push_str("# Modules\r\n"),
        "errorstats" => o.push_str("# Errorstats\r\n"),
        "cluster" => o.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "tiering" => tiering(eng, o),
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            for db in 0..eng.databases() {
                let i = eng.db_info(db);
                if i.keys > 0 {
                    let _ = write!(
                        o,
                        "db{db}:keys={},expires={},avg_ttl=0\r\n",
                        i.keys, i.expires
                    );
                }
            }
        }
        _ => {}
    }
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                })
        })
        .map_or(0, |kb| kb * 1024)
}

/// INFO's `# Tiering` section: how keys are split between RAM and the cold tier, how they
/// move, and what RocksDB holds.
fn tiering(eng: &strata_engine::Engine, o: &mut String) {
    let Some(t) = &eng.tier else {
        o.push_str("# Tiering\r\ncold_tier:no\r\n");
        return;
    };
    let (hot, cold) = eng.tier_keys();
    let st = &t.stats;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let hits = eng.keyspace_stats().hits;
    let cold_reads = get(&st.cold_reads);
    let ratio = if hits + cold_reads == 0 {
        1.0
    } else {
        hits.saturating_sub(cold_reads) as f64 / hits as f64
    };
    let mem = t.store.memory();
    let lat = &t.read_latency;
    let _ = write!(
        o,
        "# Tiering\r\ncold_tier:yes\r\ncold_tier_status:{}\r\nhot_keys:{hot}\r\ncold_keys:{cold}\r\nspills:{}\r\nspilled_bytes:{}\r\nclean_drops:{}\r\npromotions:{}\r\nadmission_rejects:{}\r\ncold_reads:{cold_reads}\r\ncold_misses:{}\r\ncold_prefetches:{}\r\ncold_sync_reads:{}\r\ncold_read_latency_p50_us:{:.1}\r\ncold_read_latency_p99_us:{:.1}\r\ncold_read_latency_p999_us:{:.1}\r\nhot_hit_ratio:{ratio:.4}\r\ncold_disk_bytes:{}\r\ncold_tier_max_size:{}\r\ncold_tier_admission:{}\r\nrocksdb_memory:{}\r\nrocksdb_block_cache:{}\r\nrocksdb_block_cache_pinned:{}\r\nrocksdb_memtables:{}\r\nrocksdb_table_readers:{}\r\nadmission_sketch_bytes:{}\r\ncold_tier_errors:{}\r\n",
        t.status(),
        get(&st.spills),
        get(&st.spilled_bytes),
        get(&st.clean_drops),
        get(&st.promotions),
        get(&st.admission_rejects),
        get(&st.cold_misses),
        get(&st.prefetches),
        get(&st.sync_reads),
        lat.percentile(50.0),
        lat.percentile(99.0),
        lat.percentile(99.9),
        t.store.disk_bytes(),
        get(&t.max_size),
        t.admission().name(),
        mem.total(),
        mem.block_cache,
        mem.block_cache_pinned,
        mem.memtables,
        mem.table_readers,
        t.sketch_bytes(),
        t.errors(),
    );
}
