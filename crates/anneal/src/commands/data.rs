use std::path::Path;

use anneal::error::CliError;
use anneal_data::Store;

pub fn import(
    dir: &Path,
    source: &Path,
    format: Option<&str>,
    split: &str,
    unlabeled: bool,
    json: bool,
) -> Result<u8, CliError> {
    let format = format.unwrap_or(if source.is_dir() { "images" } else { "idx" });
    if !dir.join(anneal_spec::MANIFEST).exists() {
        return Err(
            CliError::new(format!("no {} in {}", anneal_spec::MANIFEST, dir.display()))
                .hint("create a program first with `anneal new DIR`, or pass `-C DIR`"),
        );
    }
    let s = match format {
        "idx" => anneal_data::import::import_idx(dir, source, split, unlabeled)?,
        "images" => anneal_data::import::import_images(dir, source, split, unlabeled)?,
        other => {
            return Err(
                CliError::new(format!("unsupported import format `{other}`"))
                    .hint("expected `idx` or `images`"),
            );
        }
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"commit": s.commit.to_hex(), "added": s.added, "new_blobs": s.new_blobs, "split": split})
        );
    } else {
        println!(
            "imported {} examples ({}x{} images, split {split}) as commit {}",
            s.added,
            s.image[0],
            s.image[1],
            s.commit.short()
        );
    }
    Ok(0)
}

pub fn log(dir: &Path, json: bool) -> Result<u8, CliError> {
    let store = Store::open(dir)?;
    let log = store.log()?;
    if json {
        let items: Vec<_> = log
            .iter()
            .map(|(h, c)| serde_json::json!({"commit": h.to_hex(), "parents": c.parents, "author": c.author, "time": c.time, "message": c.message, "table": c.table}))
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(0);
    }
    if log.is_empty() {
        println!("no commits yet");
    }
    for (h, c) in &log {
        println!(
            "commit {h}\nauthor {}\ntime   {}\n\n    {}\n",
            c.author, c.time, c.message
        );
    }
    Ok(0)
}
