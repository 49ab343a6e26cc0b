//! Files an attacker on the same machine could read through (issue 13): the outbox, the database
//! with its WAL and SHM, and the directories credwatch creates are its owner's only.

use crate::support::config::{Database, Email};
use crate::support::{World, process};
use chrono::Utc;
use credwatch::reminders::try_remind;
use credwatch::startup::open_store;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn outbox_messages_are_private() {
    let mut world = World::with_one_secret(5).await;
    let outbox = world.dir.path().join("mail").join("outbox");
    world.file.email = Some(Email::outbox(outbox.clone(), &["ops@example.com"]));
    let config = world.config();
    let store = world.sync_with(&config).await;
    let report = try_remind(&store, &config, Utc::now(), false).await.unwrap();
    assert_eq!(report.sent(), 2, "{report}");
    assert_eq!(mode(&outbox), 0o700);
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2);
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
        assert!(std::fs::read_to_string(&f).unwrap().contains("payments"));
    }
}

#[tokio::test]
async fn a_readable_database_is_made_private_with_its_wal_and_shm() {
    let world = World::with_one_secret(5).await;
    let config = world.config();
    let db = world.db_path();
    open_store(&config).await.unwrap().pool().close().await;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_with_umask(&world, "022", &["remind", "--dry-run"]).await;
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(mode(&db), 0o600);
    assert!(
        out.2.contains(&db.display().to_string()) && out.2.contains("0600"),
        "a log line names the file: {out:?}"
    );
    // SQLite removes the WAL and SHM at the last close: look at them while the database is open,
    // once left behind readable and once created afresh.
    for leftover in [true, false] {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        for suffix in ["-wal", "-shm"] {
            let path = format!("{}{suffix}", db.display());
            if leftover {
                std::fs::write(&path, b"").unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let store = open_store(&config).await.unwrap();
        store.ping().await.unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", db.display());
            assert_eq!(mode(Path::new(&path)), 0o600, "{path} (left behind: {leftover})");
        }
        store.pool().close().await;
    }
}

#[tokio::test]
async fn the_database_directory_is_created_private_even_under_umask_000() {
    let mut world = World::with_one_secret(5).await;
    let db = world.dir.path().join("state").join("deeper").join("credwatch.db");
    world.file.database = Some(Database {
        url: Some(format!("sqlite://{}", db.display())),
    });
    let out = run_with_umask(&world, "000", &["remind", "--dry-run"]).await;
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(mode(&world.dir.path().join("state")), 0o700);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&db), 0o600);
}

/// Runs the binary on the world's written config under `umask`.
async fn run_with_umask(world: &World, umask: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = process::command_with_umask(world, umask);
    cmd.args(args).arg("--config").arg(world.write_config()).env("RUST_LOG", "info");
    process::output(cmd).await
}
