//! A YAML document as a tree of nodes that remember where they came from (line and column),
//! read with `serde-saphyr` under explicit budgets (size, depth, nodes, aliases).

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Options, Spanned};

use crate::BundleError;

/// Largest YAML file read (bytes). Real bundles are well under 1 MiB.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Deepest nesting accepted (bundles nest about 5 deep).
pub const MAX_DEPTH: usize = 64;
/// Most nodes accepted in one document (after alias expansion).
pub const MAX_NODES: usize = 200_000;
/// Most events replayed from aliases in one document (real bundles replay a few hundred).
pub const MAX_ALIAS_REPLAY: usize = 50_000;
/// Stack of the parsing thread.
const PARSE_STACK_BYTES: usize = 64 * 1024 * 1024;
/// Most alias references accepted in one document.
pub const MAX_ALIASES: usize = 10_000;

/// A place in a source file (1-based line and column; 0 when unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Index of the source file in the load order (0 = the bundle, 1.. = overlays).
    pub file: u32,
    /// Line, 1-based.
    pub line: u64,
    /// Column, 1-based.
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where it is referenced in the file (for an alias: the alias itself).
    pub pos: Pos,
}

/// The value of a YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `~`, `null` or an empty value.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A node without a position (built by code, e.g. by an overlay merge).
    pub fn new(kind: NodeKind) -> Node {
        Node {
            kind,
            pos: Pos::default(),
        }
    }

    /// Short name of the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Sets the source-file index of this node and every node under it.
    pub fn set_file(&mut self, file: u32) {
        self.pos.file = file;
        match &mut self.kind {
            NodeKind::Seq(items) => items.iter_mut().for_each(|n| n.set_file(file)),
            NodeKind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.set_file(file);
                v.set_file(file);
            }),
            _ => {}
        }
    }

    /// Whether the node is null.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The node as a scalar string (strings, numbers and booleans), as Juju's YAML decoder
    /// reads a scalar into a string field.
    pub fn scalar_string(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(x) => Some(x.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The entries of a mapping, when it is one.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under a key of a mapping (scalar keys compared as strings).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.scalar_string().as_deref() == Some(key))
            .map(|(_, v)| v)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeKind, E> {
        Ok(i64::try_from(v)
            .map(NodeKind::Int)
            .unwrap_or(NodeKind::Float(v as f64)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeKind, E> {
        Ok(i64::try_from(v)
            .map(NodeKind::Int)
            .unwrap_or(NodeKind::Str(v.to_string())))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeKind, E> {
        Ok(i64::try_from(v)
            .map(NodeKind::Int)
            .unwrap_or(NodeKind::Str(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeKind, E> {
        Ok(NodeKind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<NodeKind, E> {
        Ok(NodeKind::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        NodeKind::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<NodeKind>>()? {
            out.push(spanned(item));
        }
        Ok(NodeKind::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<Spanned<NodeKind>>()? {
            let v = map.next_value::<Spanned<NodeKind>>()?;
            out.push((spanned(k), spanned(v)));
        }
        Ok(NodeKind::Map(out))
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NodeKind, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

fn spanned(s: Spanned<NodeKind>) -> Node {
    Node {
        kind: s.value,
        pos: Pos {
            file: 0,
            line: s.referenced.line(),
            column: s.referenced.column(),
        },
    }
}

/// The parser options: budgets against alias bombs, deep nesting and huge documents.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_aliases = MAX_ALIASES;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES as usize * 2;
    budget.max_events = 2 * MAX_NODES;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAY;
    options
}

/// Parses YAML text; `file` names the source in errors.
pub fn parse_str(file: &Path, text: &str) -> Result<Node, BundleError> {
    if text.trim().is_empty() {
        return Ok(Node {
            kind: NodeKind::Null,
            pos: Pos {
                file: 0,
                line: 1,
                column: 1,
            },
        });
    }
    // The deserializer recurses once per nesting level with large frames (tens of KiB per
    // level in debug builds): parse on a thread whose stack fits MAX_DEPTH levels with room
    // to spare, so deep input hits the depth budget, never the stack guard.
    let parsed = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("yaml-parse".into())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(scope, || {
                serde_saphyr::from_str_with_options::<Spanned<NodeKind>>(text, options())
            })
            .map(|h| h.join())
    });
    let parsed = match parsed {
        Ok(Ok(r)) => r,
        Ok(Err(_)) | Err(_) => {
            return Err(BundleError::Yaml {
                file: file.to_path_buf(),
                pos: Pos::default(),
                message: "the YAML parser failed (could not start or panicked)".into(),
            })
        }
    };
    match parsed {
        Ok(doc) => Ok(spanned(doc)),
        Err(e) => {
            let pos = e
                .location()
                .map(|l| Pos {
                    file: 0,
                    line: l.line(),
                    column: l.column(),
                })
                .unwrap_or_default();
            Err(BundleError::Yaml {
                file: file.to_path_buf(),
                pos,
                message: first_line(&e.to_string()),
            })
        }
    }
}

/// Reads and parses a YAML file, refusing files over [`MAX_FILE_BYTES`] before reading them,
/// and anything that is not a regular file (a FIFO or `/dev/zero` would be read forever).
pub fn parse_file(path: &Path) -> Result<Node, BundleError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| BundleError::Io {
        file: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK (0o4000 on Linux): opening a FIFO without a writer must not hang.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000)
        .open(path)
        .map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory cannot be read as a bundle)",
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(BundleError::TooLarge {
            file: path.to_path_buf(),
            size: meta.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    // A file can grow between stat and read: check again.
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(BundleError::TooLarge {
            file: path.to_path_buf(),
            size: bytes.len() as u64,
            limit: MAX_FILE_BYTES,
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count() as u64
            + 1;
        BundleError::Yaml {
            file: path.to_path_buf(),
            pos: Pos {
                file: 0,
                line,
                column,
            },
            message: format!("not UTF-8 text (invalid byte at offset {at})"),
        }
    })?;
    parse_str(path, &text)
}

/// The first line of a (possibly multi-line, snippet-decorated) parser message, without the
/// `error: line L column C:` prefix (the position is printed separately), and budget breaches
/// explained.
fn first_line(s: &str) -> String {
    let mut line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid YAML");
    line = line.strip_prefix("error:").map(str::trim).unwrap_or(line);
    if let Some(rest) = line.strip_prefix("line ") {
        if let Some((_, after)) = rest.split_once(": ") {
            line = after;
        }
    }
    if let Some((msg, _)) = line.split_once(", set DuplicateKeyPolicy") {
        line = msg;
    }
    if line.contains("budget breached") || line.contains("recursion limit") {
        return format!(
            "{line} (preflight refuses YAML nested deeper than {MAX_DEPTH}, with more than {MAX_NODES} nodes, more than {MAX_ALIASES} aliases or more than {MAX_ALIAS_REPLAY} alias-replayed events)"
        );
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_utf8_file_names_line_and_column_and_a_fifo_is_refused() {
        let dir = std::env::temp_dir().join(format!("pf-yaml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("b.yaml");
        std::fs::write(&f, b"applications:\n  caf\xe9: {}\n").unwrap();
        let e = parse_file(&f).unwrap_err().to_string();
        assert!(e.contains("b.yaml:2:6"), "{e}");
        assert!(e.contains("offset 19"), "{e}");
        let e = parse_file(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn p(text: &str) -> Result<Node, BundleError> {
        parse_str(Path::new("t.yaml"), text)
    }

    #[test]
    fn positions_and_aliases() {
        let n = p("a: &x hello\nb:\n  - *x\n  - 3\n").unwrap();
        let b = n.get("b").unwrap();
        assert_eq!(b.pos.line, 3);
        match &b.kind {
            NodeKind::Seq(items) => {
                assert_eq!(items[0].kind, NodeKind::Str("hello".into()));
                assert_eq!(items[0].pos.line, 3);
                assert_eq!(items[1].kind, NodeKind::Int(3));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            n.get("a").unwrap().pos,
            Pos {
                file: 0,
                line: 1,
                column: 7
            }
        );
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = p("a: 1\nb: [1, 2\nc: 3\n").unwrap_err().to_string();
        assert!(e.starts_with("t.yaml:"), "{e}");
        assert!(e.contains(":3:") || e.contains(":4:"), "{e}");
    }

    #[test]
    fn empty_is_null() {
        assert!(p("").unwrap().is_null());
        assert!(p("# only a comment\n").unwrap().is_null());
    }
}
