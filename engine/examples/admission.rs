//! Admission quality: hit rates of Redis's sampled LRU and LFU eviction and of TinyLFU
//! admission in front of sampled LRU, on Zipf traces (0.9, 1.0, 1.2) and a scan-polluted one,
//! a scan-polluted one and one whose popular keys change every 200,000 accesses, with room for
//! 1% and 10% of the keys.
//!
//!     cargo run --release -p strata-engine --example admission

use strata_engine::tier::simulate::{
    hit_rate, scan_polluted_trace, shifting_trace, zipf_trace, Policy,
};

fn main() {
    let n = 100_000;
    let len = 2_000_000;
    let traces = [
        ("zipf 0.9", zipf_trace(n, 0.9, len, 11)),
        ("zipf 1.0", zipf_trace(n, 1.0, len, 12)),
        ("zipf 1.2", zipf_trace(n, 1.2, len, 13)),
        (
            "zipf 1.0 + scans",
            scan_polluted_trace(n, 1.0, len, 50_000, 20_000, 14),
        ),
        (
            "zipf 1.0, shifting",
            shifting_trace(n, 1.0, len, 200_000, 15),
        ),
    ];
    println!("| trace | cache | Redis LRU | Redis LFU | TinyLFU | TinyLFU - LFU |");
    println!("|---|---|---|---|---|---|");
    for (name, trace) in &traces {
        for pct in [1, 10] {
            let cap = n * pct / 100;
            let lru = hit_rate(Policy::RedisLru, cap, trace, 1);
            let lfu = hit_rate(Policy::RedisLfu, cap, trace, 1);
            let tiny = hit_rate(Policy::TinyLfu, cap, trace, 1);
            println!(
                "| {name} | {pct}% | {:.1}% | {:.1}% | {:.1}% | {:+.1} |",
                lru * 100.0,
                lfu * 100.0,
                tiny * 100.0,
                (tiny - lfu) * 100.0
            );
        }
    }
}
