use std::path::Path;

use anneal::error::CliError;
use anneal::templates::{TEMPLATES, find};
use anneal_data::fs::write_atomic;

pub fn run(dir: &Path, template: &str) -> Result<u8, CliError> {
    let t = find(template).ok_or_else(|| unknown(template))?;
    let manifest = dir.join(anneal_spec::MANIFEST);
    if manifest.exists() {
        return Err(
            CliError::new(format!("{} already exists", manifest.display()))
                .hint("choose a new folder"),
        );
    }
    let name = program_name(dir);
    std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    let text = t.manifest.replace("{name}", &name);
    write_atomic(&manifest, text.as_bytes()).map_err(|e| CliError::io(&manifest, e))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        write_atomic(&ignore, b"/target/\n/.anneal/\n").map_err(|e| CliError::io(&ignore, e))?;
    }
    let dir = dir.display();
    println!("created program `{name}` ({}) in {dir}", t.about);
    println!("next: anneal data import SOURCE -C {dir} --split train, then anneal build -C {dir}");
    Ok(0)
}

fn unknown(template: &str) -> CliError {
    let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
    CliError::new(format!("unknown template `{template}`"))
        .hint(format!("expected one of: {}", names.join(", ")))
}

/// A valid program name from the folder name.
fn program_name(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let keep = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut name: String = raw.chars().map(|c| if keep(c) { c } else { '-' }).collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert(0, 'p');
    }
    name.truncate(64);
    name
}
