//! The database's files are as private as its data: the directory is created 0700 and the
//! database, its WAL and its shared-memory file are narrowed to 0600 when found readable by
//! others (SQLite gives new WAL and SHM files the database's mode, so they follow from then on).

use super::StoreError;
use std::path::{Path, PathBuf};

/// Creates the database's directory owner-only if it is missing, and narrows the database's
/// existing files to owner-only, saying so in the log.
pub(super) fn make_private(database: &Path) -> Result<(), StoreError> {
    if database.as_os_str().is_empty() {
        return Ok(());
    }
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        // The mode is masked by the umask, but never widened by it: 0700 under umask 000 too.
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| StoreError::Setup(format!("cannot create the directory {}: {e}", dir.display())))?;
    }
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        narrow(&PathBuf::from(name));
    }
    Ok(())
}

#[cfg(unix)]
fn narrow(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        Ok(()) => tracing::warn!(
            file = %path.display(),
            "{} was readable by other users (mode {mode:04o}); narrowed to 0600",
            path.display()
        ),
        Err(e) => tracing::warn!(
            file = %path.display(),
            error = %e,
            "{} is readable by other users (mode {mode:04o}) and could not be narrowed to 0600",
            path.display()
        ),
    }
}
