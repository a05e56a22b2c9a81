//! Golden comparison on this machine: node_exporter (Debian 1.5) and ours run side by side; every
//! family node_exporter serves for the implemented collectors is present with the same type and
//! labels, and stable values agree (MemTotal and filesystem sizes exactly, CPU seconds within a
//! scrape interval). Garbled /proc files fail only their collector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcp_testkit::{
    anchors_dir, find_binary, free_port, http_get, metric_diff, promtool_lint, wait_until,
};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &std::path::Path, args: &[&str]) -> (Proc, String) {
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    assert!(wait_until(Duration::from_secs(10), || http_get(&url).0 == 200));
    (Proc(child), url)
}

use mcp_testkit::sample as value;

#[test]
fn families_and_stable_values_match_node_exporter() {
    let ours_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mcp-host-exporter"));
    let (_ours, ours_url) = start(&ours_bin, &[]);
    let ours = http_get(&ours_url).1;

    let dir = tempfile::tempdir().unwrap();
    // The captured anchor (same kind of machine) has the timex families: we serve them too.
    let anchor_text =
        std::fs::read_to_string(anchors_dir().join("node_exporter_1.5.0.metrics.txt")).unwrap();
    assert!(anchor_text.contains("# TYPE node_timex_status gauge"));

    let Ok(node) = find_binary("prometheus-node-exporter") else {
        panic!("prometheus-node-exporter is required (scripts/test installs it)");
    };
    let (_node, node_url) = start(&node, &[]);
    let theirs = http_get(&node_url).1;
    let ours = {
        // Scrape ours right after theirs so counters are close.
        let _ = ours;
        http_get(&ours_url).1
    };
    let theirs_file = dir.path().join("node.txt");
    std::fs::write(&theirs_file, &theirs).unwrap();
    let (ok, report) = metric_diff(&theirs_file, &ours, &["--prefix", "node_"]);
    assert!(
        ok,
        "families missing against the live node_exporter:\n{report}"
    );

    assert_eq!(
        value(&ours, "node_memory_MemTotal_bytes"),
        value(&theirs, "node_memory_MemTotal_bytes")
    );
    let root = "node_filesystem_size_bytes{device=";
    let our_root = ours
        .lines()
        .find(|l| l.starts_with(root) && l.contains("mountpoint=\"/\""))
        .unwrap();
    let their_root = theirs
        .lines()
        .find(|l| l.starts_with(root) && l.contains("mountpoint=\"/\""))
        .unwrap();
    assert_eq!(our_root, their_root, "root filesystem size");
    let cpu = "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"}";
    let (a, b) = (value(&ours, cpu).unwrap(), value(&theirs, cpu).unwrap());
    assert!(
        (a - b).abs() < 15.0,
        "cpu0 user: ours {a}, node_exporter {b}"
    );
    assert_eq!(
        value(&ours, "node_boot_time_seconds"),
        value(&theirs, "node_boot_time_seconds")
    );

    // adjtimex: the kernel's clock state, identical within a second.
    for stable in [
        "node_timex_tick_seconds",
        "node_timex_status",
        "node_timex_sync_status",
        "node_timex_loop_time_constant",
        "node_timex_tai_offset_seconds",
    ] {
        assert_eq!(value(&ours, stable), value(&theirs, stable), "{stable}");
        assert!(value(&ours, stable).is_some(), "{stable}");
    }

    let accepted = ["camelCase", "base unit \"bytes\" instead of \"bits\""];
    let lints: Vec<String> = promtool_lint(&ours)
        .into_iter()
        .filter(|l| !accepted.iter().any(|a| l.contains(a)))
        .collect();
    assert!(lints.is_empty(), "promtool: {lints:?}");
}

#[test]
fn garbage_proc_files_fail_only_their_collector() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc");
    let proc_dir = dir.path().join("proc");
    let status = Command::new("cp")
        .arg("-r")
        .arg(fixtures)
        .arg(&proc_dir)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(proc_dir.join("stat"), "cpu garbage\n\x00\x01 nonsense").unwrap();
    std::fs::write(proc_dir.join("loadavg"), "").unwrap();
    std::fs::write(
        proc_dir.join("meminfo"),
        "MemTotal: 1024 kB\nSwapTotal: 0 kB\n",
    )
    .unwrap();
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mcp-host-exporter"));
    let proc_arg = format!("--path.procfs={}", proc_dir.display());
    let (_p, url) = start(&bin, &[&proc_arg, "--path.sysfs=/nonexistent-sys"]);
    let (status, text) = http_get(&url);
    assert_eq!(status, 200);
    assert_eq!(
        value(
            &text,
            "node_scrape_collector_success{collector=\"loadavg\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "node_scrape_collector_success{collector=\"stat\"}"),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            "node_scrape_collector_success{collector=\"meminfo\"}"
        ),
        Some(1.0)
    );
    assert_eq!(value(&text, "node_memory_MemTotal_bytes"), Some(1048576.0));
    assert_eq!(value(&text, "node_memory_SwapTotal_bytes"), Some(0.0));
    assert_eq!(
        value(
            &text,
            "node_scrape_collector_success{collector=\"netstat\"}"
        ),
        Some(1.0)
    );
    // The fixture root: values come from the captured files, not from this machine.
    assert!(text.contains("node_network_receive_bytes_total{device=\"lo\"}"));
}

#[test]
fn collector_flags_and_bad_input() {
    let bin = env!("CARGO_BIN_EXE_mcp-host-exporter");
    let (_p, url) = start(
        std::path::Path::new(bin),
        &[
            "--collector.disable-defaults",
            "--collector.loadavg",
            "--no-collector.cpu",
        ],
    );
    let text = http_get(&url).1;
    assert!(text.contains("node_load1 "));
    assert!(!text.contains("node_cpu_seconds_total"));
    for args in [
        vec!["--collector.nosuch"],
        vec!["--collector.diskstats.device-exclude=("],
        vec!["--web.listen-address=nonsense"],
    ] {
        let out = Command::new(bin).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim().lines().count(),
            1,
            "{args:?}"
        );
    }
}

#[test]
fn textfile_metrics_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("backup.prom"), "# HELP backup_last_success_seconds Last backup.\n# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds{db=\"core\"} 1.7e+09\n").unwrap();
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mcp-host-exporter"));
    let arg = format!("--collector.textfile.directory={}", dir.path().display());
    let (_p, url) = start(&bin, &[&arg]);
    let text = http_get(&url).1;
    assert!(
        text.contains("backup_last_success_seconds{db=\"core\"} 1.7e+09\n"),
        "{text}"
    );
    assert_eq!(value(&text, "node_textfile_scrape_error"), Some(0.0));
    assert!(text.contains("node_textfile_mtime_seconds{file=\"backup.prom\"}"));
}

/// One scrape of our exporter with only the cgroup collector, over a fixture sysfs and rootfs.
fn scrape_cgroup_only(sys: &std::path::Path, root: &std::path::Path) -> String {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mcp-host-exporter"));
    let sys_arg = format!("--path.sysfs={}", sys.display());
    let root_arg = format!("--path.rootfs={}", root.display());
    let (_p, url) = start(
        &bin,
        &[
            "--collector.disable-defaults",
            "--collector.cgroup",
            &sys_arg,
            &root_arg,
        ],
    );
    http_get(&url).1
}

#[test]
fn docker_containers_get_cadvisor_names_from_a_cgroup_v2_tree() {
    let dir = tempfile::tempdir().unwrap();
    let id = "3f4c".repeat(16);
    let sys = dir.path().join("sys");
    let cg = sys.join(format!("fs/cgroup/system.slice/docker-{id}.scope"));
    std::fs::create_dir_all(&cg).unwrap();
    std::fs::write(
        sys.join("fs/cgroup/cgroup.controllers"),
        "cpu io memory pids\n",
    )
    .unwrap();
    std::fs::write(
        cg.join("cpu.stat"),
        "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
    )
    .unwrap();
    std::fs::write(cg.join("memory.current"), "104857600\n").unwrap();
    std::fs::write(
        cg.join("memory.stat"),
        "anon 52428800\nfile 41943040\ninactive_file 20971520\n",
    )
    .unwrap();
    std::fs::write(cg.join("memory.max"), "268435456\n").unwrap();
    std::fs::write(
        cg.join("io.stat"),
        "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    )
    .unwrap();
    let root = dir.path().join("root");
    let meta = root.join(format!("var/lib/docker/containers/{id}"));
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("config.v2.json"),
        r#"{"Config":{"Image":"cdb/core:1"},"Name":"/cdb_core"}"#,
    )
    .unwrap();

    let text = scrape_cgroup_only(&sys, &root);
    let labels =
        format!("id=\"/system.slice/docker-{id}.scope\",image=\"cdb/core:1\",name=\"cdb_core\"");
    assert_eq!(
        value(
            &text,
            &format!("container_cpu_usage_seconds_total{{cpu=\"total\",{labels}}}")
        ),
        Some(2.5),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            &format!("container_memory_working_set_bytes{{{labels}}}")
        ),
        Some(83886080.0)
    );
    assert_eq!(
        value(
            &text,
            &format!("container_spec_memory_limit_bytes{{{labels}}}")
        ),
        Some(268435456.0)
    );
    assert!(
        text.contains("container_fs_writes_bytes_total{device="),
        "{text}"
    );
    assert_eq!(
        value(&text, "node_scrape_collector_success{collector=\"cgroup\"}"),
        Some(1.0)
    );
}

#[test]
fn docker_containers_on_a_cgroup_v1_host_get_the_same_families() {
    let dir = tempfile::tempdir().unwrap();
    let id = "9a1b".repeat(16);
    let sys = dir.path().join("sys");
    let cg = sys.join("fs/cgroup");
    let rel = format!("docker/{id}");
    for h in ["cpu,cpuacct", "memory", "blkio"] {
        std::fs::create_dir_all(cg.join(h).join(&rel)).unwrap();
    }
    // The hierarchy roots carry the same files as the containers below them.
    std::fs::write(cg.join("memory/memory.usage_in_bytes"), "999999999\n").unwrap();
    std::fs::write(cg.join("cpu,cpuacct/cpuacct.usage"), "1\n").unwrap();
    let c = |h: &str, f: &str| cg.join(h).join(&rel).join(f);
    std::fs::write(c("cpu,cpuacct", "cpuacct.usage"), "3250000000\n").unwrap();
    std::fs::write(c("cpu,cpuacct", "cpuacct.stat"), "user 250\nsystem 75\n").unwrap();
    std::fs::write(c("memory", "memory.usage_in_bytes"), "104857600\n").unwrap();
    std::fs::write(
        c("memory", "memory.stat"),
        "cache 1\nrss 2\ntotal_cache 41943040\ntotal_rss 52428800\ntotal_inactive_file 20971520\n",
    )
    .unwrap();
    std::fs::write(
        c("memory", "memory.limit_in_bytes"),
        "9223372036854771712\n",
    )
    .unwrap();
    std::fs::write(
        c("blkio", "blkio.throttle.io_service_bytes"),
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n",
    )
    .unwrap();

    let text = scrape_cgroup_only(&sys, &dir.path().join("root"));
    // No Docker metadata under the rootfs: the short id names the container.
    let labels = format!("id=\"/docker/{id}\",image=\"\",name=\"{}\"", &id[..12]);
    let v = |family: &str, extra: &str| value(&text, &format!("{family}{{{extra}{labels}}}"));
    assert_eq!(
        v("container_cpu_usage_seconds_total", "cpu=\"total\","),
        Some(3.25),
        "{text}"
    );
    assert_eq!(v("container_cpu_user_seconds_total", ""), Some(2.5));
    assert_eq!(v("container_cpu_system_seconds_total", ""), Some(0.75));
    assert_eq!(v("container_memory_usage_bytes", ""), Some(104857600.0));
    assert_eq!(
        v("container_memory_working_set_bytes", ""),
        Some(83886080.0)
    );
    assert_eq!(v("container_memory_rss", ""), Some(52428800.0));
    assert_eq!(v("container_memory_cache", ""), Some(41943040.0));
    assert_eq!(v("container_spec_memory_limit_bytes", ""), Some(0.0));
    assert_eq!(
        v("container_fs_reads_bytes_total", "device=\"8:0\","),
        Some(4096.0)
    );
    assert_eq!(
        v("container_fs_writes_bytes_total", "device=\"8:0\","),
        Some(8192.0)
    );
    assert_eq!(
        value(&text, "node_scrape_collector_success{collector=\"cgroup\"}"),
        Some(1.0)
    );
}
