//! `partition.metadata`, as Kafka writes it in each partition directory: the id of the
//! topic the directory's log belongs to (`version: 0`, then `topic_id: ` and the id as
//! Kafka prints ids, URL-safe base64 of its 16 bytes). A directory named after a topic
//! may hold an older topic of the same name (deleted while this broker was away, or a
//! cluster of one's topic on a node that joined a quorum); its file tells them apart,
//! so the new topic never serves the old one's records.

use std::io;
use std::path::Path;

use base64::Engine;

use super::OnFile;
use uuid::Uuid;

pub const FILE: &str = "partition.metadata";

fn encode(id: Uuid) -> Vec<u8> {
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes());
    format!("version: 0\ntopic_id: {id}\n").into_bytes()
}

fn parse(text: &str) -> Option<Uuid> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "version: 0" {
        return None;
    }
    let id = lines.next()?.strip_prefix("topic_id:")?.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// The topic id `dir`'s file names; `None` without the file (a directory written before
/// shoal kept it). A file that does not parse is an error naming it.
pub fn read(dir: &Path) -> io::Result<Option<Uuid>> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).on(&path),
    };
    let message = "it does not name a topic id";
    parse(&text)
        .map(Some)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, message))
        .on(&path)
}

/// Makes `dir` fit to hold topic `id`'s partition: a directory whose file names another
/// topic is renamed aside (`-stray`, as Kafka keeps stray logs), kept and logged, so the
/// partition starts empty rather than with the other topic's records.
pub fn settle(dir: &Path, id: Uuid) -> io::Result<()> {
    match read(dir)? {
        Some(found) if found != id => {
            let stray = super::log::aside(dir, "stray");
            std::fs::rename(dir, &stray).about(|| super::renamed(dir, &stray))?;
            tracing::warn!(
                dir = %dir.display(),
                kept_as = %stray.display(),
                "this partition directory holds another topic of the same name (its {FILE} names another id): kept aside; delete it if it is not needed"
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Writes `dir`'s file for topic `id` when it has none. Failing to (a full disk) costs
/// only the check above: logged, not fatal.
pub async fn record(dir: &Path, id: Uuid) {
    if matches!(read(dir), Ok(Some(_))) {
        return;
    }
    if let Err(error) = super::replace_file(&dir.join(FILE), encode(id)).await {
        tracing::warn!(dir = %dir.display(), %error, "could not write {FILE}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes_and_refuses_garbage() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let text = String::from_utf8(encode(id)).unwrap();
        assert!(text.starts_with("version: 0\ntopic_id: ASNFZ4mrze8BI0VniavN7w"));
        assert_eq!(parse(&text), Some(id));
        for bad in [
            "",
            "version: 1\ntopic_id: ASNFZ4mrze8BI0VniavN7w",
            "version: 0\n",
            "version: 0\ntopic_id: ###",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_directory_of_another_topic_is_kept_aside() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("t-0");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(FILE), encode(Uuid::from_u128(1))).unwrap();
        settle(&dir, Uuid::from_u128(1)).unwrap();
        assert!(dir.exists(), "its own topic stays");
        settle(&dir, Uuid::from_u128(2)).unwrap();
        assert!(!dir.exists());
        let names: Vec<String> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.len() == 1 && names[0].ends_with("-stray"),
            "{names:?}"
        );
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(FILE), b"version: 0\ntopic_id: nonsense").unwrap();
        let error = settle(&dir, Uuid::from_u128(2)).unwrap_err();
        assert!(error.to_string().contains(FILE), "{error}");
    }
}
