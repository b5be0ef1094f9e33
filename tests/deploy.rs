//! The files in deploy/ stay true: the production config example passes
//! `hotline check-config` (with the prompts where this checkout has them),
//! and the unit files, the image and the Compose file agree with it on
//! the config's path, the prompts, the writable directories and the
//! health check's port. With systemd-analyze installed, the units verify.

use hotline::config::Config;
use std::path::Path;
use std::process::Command;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(DEPLOY).join(name)).unwrap()
}

/// The example with `prompts_dir` pointing at this checkout's prompts.
fn example_here() -> String {
    let text = read("hotline.toml");
    let installed = "prompts_dir = \"/usr/share/hotline/prompts\"";
    assert_eq!(
        text.matches(installed).count(),
        1,
        "prompts_dir as installed"
    );
    text.replace(
        installed,
        &format!(
            "prompts_dir = \"{}/config/prompts\"",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
}

#[test]
fn the_production_config_example_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotline.toml");
    std::fs::write(&path, example_here()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok: 5 lines, 2 queues, 3 seats") && stdout.contains("store postgres://"),
        "{stdout}"
    );
}

#[test]
fn units_image_and_compose_agree_with_the_config() {
    let config = Config::from_str_at(&example_here(), Path::new("hotline.toml")).unwrap();
    let unit = read("hotline.service");
    let retention = read("hotline-retention.service");
    let docker = read("Dockerfile");
    let compose = read("compose.yaml");

    for (name, text) in [
        ("hotline.service", &unit),
        ("hotline-retention.service", &retention),
    ] {
        assert!(
            text.contains("--config /etc/hotline/hotline.toml") && text.contains("User=hotline"),
            "{name}"
        );
        // What hotline writes is under the state directory systemd makes
        // writable (ProtectSystem=strict makes the rest read-only).
        assert!(text.contains("StateDirectory=hotline"), "{name}");
        for root in config.recordings.roots() {
            assert!(root.starts_with("/var/lib/hotline"), "{name}: {root:?}");
        }
    }
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    assert!(unit.contains("--log-format journald serve"));
    assert!(compose.contains("/etc/hotline/hotline.toml:ro"));
    assert!(compose.contains("/var/lib/hotline"));
    // The prompts go where the example looks for them.
    let prompts = read("hotline.toml");
    assert!(prompts.contains("prompts_dir = \"/usr/share/hotline/prompts\""));
    assert!(docker.contains("COPY config/prompts /usr/share/hotline/prompts"));
    // Health checks ask the port the API listens on.
    let port = config.http.listen.port();
    let probe = format!("/dev/tcp/127.0.0.1/{port}");
    assert!(
        docker.contains(&probe) && compose.contains(&probe),
        "{probe}"
    );
    assert!(docker.contains("rust:1.95-bookworm") && docker.contains("--locked"));
    let docs = read("Dockerfile.dockerignore");
    for copied in [
        "Cargo.lock",
        "src",
        "migrations",
        "config/prompts",
        "deploy/hotline.toml",
    ] {
        assert!(
            docs.contains(&format!("!{copied}")),
            "{copied} in the build context"
        );
    }
}

#[test]
fn the_units_verify_with_systemd_analyze() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: no systemd-analyze; the units were not verified");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let units = [
        "hotline.service",
        "hotline-retention.service",
        "hotline-retention.timer",
    ];
    for name in units {
        // The binary must exist where ExecStart says: this build's.
        let text = read(name).replace("/usr/local/bin/hotline", env!("CARGO_BIN_EXE_hotline"));
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| format!("./{u}")))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.trim().is_empty(), "{text}");
}
