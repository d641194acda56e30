//! The example bot package bundled with the binary, written to the default storage folder on
//! first start so that a newcomer sees the monitor work without preparing anything.

use std::path::Path;

use anyhow::Context as _;

/// The files of the bundled example package, by path under the storage root.
pub const EXAMPLE_FILES: &[(&str, &[u8])] = &[
    (
        "example.gbai/example.gbot/config.csv",
        include_bytes!("../example/example.gbai/example.gbot/config.csv"),
    ),
    (
        "example.gbai/example.gbot/system-prompt.md",
        include_bytes!("../example/example.gbai/example.gbot/system-prompt.md"),
    ),
    (
        "example.gbai/example.gbdialog/start.bas",
        include_bytes!("../example/example.gbai/example.gbdialog/start.bas"),
    ),
    (
        "example.gbai/example.gbdialog/open-ticket.bas",
        include_bytes!("../example/example.gbai/example.gbdialog/open-ticket.bas"),
    ),
    (
        "example.gbai/example.gbkb/handbook/shop-handbook.md",
        include_bytes!("../example/example.gbai/example.gbkb/handbook/shop-handbook.md"),
    ),
    (
        "example.gbai/example.gbtheme/default.css",
        include_bytes!("../example/example.gbai/example.gbtheme/default.css"),
    ),
];

/// Writes the example package under `root` unless `root` exists already. Returns true when
/// it wrote the package.
///
/// # Errors
/// When the folder or a file cannot be created.
pub fn seed_if_missing(root: &Path) -> anyhow::Result<bool> {
    if root.exists() {
        return Ok(false);
    }
    for (relative, content) in EXAMPLE_FILES {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating folder {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_written_once_and_never_over_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("bots");
        assert!(seed_if_missing(&root).unwrap());
        let config = root.join("example.gbai/example.gbot/config.csv");
        assert!(std::fs::read_to_string(&config).unwrap().contains("bot-title"));

        std::fs::write(&config, "edited,yes\n").unwrap();
        assert!(!seed_if_missing(&root).unwrap());
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "edited,yes\n");
    }

    #[test]
    fn every_bundled_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/example");
        let mut on_disk = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(dir)];
        while let Some(path) = stack.pop() {
            for entry in std::fs::read_dir(path).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let relative = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                    on_disk.push(relative.replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = EXAMPLE_FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }
}
